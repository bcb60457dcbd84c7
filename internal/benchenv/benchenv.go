// Package benchenv reads the environment variables that size the
// benchmarks (days of history, rows, a server's service time), so that
// every benchmark takes them the same way: unset is the default, and a
// value that is not a positive number stops the benchmark and says so,
// rather than running a different benchmark than the one asked for.
package benchenv

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// LoadAverage is the machine's 1, 5 and 15 minute load averages as
// /proc/loadavg gives them ("1.52 2.10 2.33"), or "unknown" elsewhere: a
// figure measured on a shared machine means little without the load it
// was measured under.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

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

// Ascending is the comma-separated list of positive whole numbers in the
// environment variable name, each larger than the one before ("5,20"), or
// def when it is unset.
func Ascending(tb testing.TB, name string, def []int) []int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(out) > 0 && n <= out[len(out)-1]) {
			tb.Fatalf("%s=%q: want whole numbers, 1 or more, in ascending order, such as 5,20", name, v)
		}
		out = append(out, n)
	}
	return out
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

// PeakRSSKB is this process's peak resident set since its exec (VmHWM), in
// KiB, or 0 where /proc/self/status does not give it. Unlike the rusage a
// parent reads of a waited child, it does not count the parent's memory,
// which Linux charges to a child that shared it until its exec.
func PeakRSSKB() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb
		}
	}
	return 0
}
