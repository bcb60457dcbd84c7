// Package benchenv reads the environment variables that size the
// benchmarks (days of history, rows, a server's service time), so that
// every benchmark takes them the same way: unset is the default, and a
// value that is not a positive number stops the benchmark and says so,
// rather than running a different benchmark than the one asked for.
package benchenv

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Int is the positive whole number in the environment variable name, or
// def when it is unset.
func Int(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a whole number, 1 or more", name, v)
	}
	return n
}

// Duration is the Go duration ("20ms") in the environment variable name,
// zero or more, or def when it is unset.
func Duration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		tb.Fatalf("%s=%q: want a Go duration such as 20ms, zero or more", name, v)
	}
	return d
}
