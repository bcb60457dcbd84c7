package tasks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// benchmarks are the measurements `mage bench` runs, each against a limit
// measured in the same run (see each benchmark's doc comment).
var benchmarks = []struct{ pkg, name, what string }{
	{"./tasks/", "BackfillRateLimited", "rate-limited backfill: wall ÷ ideal, extra requests, v1 and v3"},
	{"./internal/backfill/", "SeedLoad", "seed load ÷ DuckDB read_csv of the same rows, peak RSS"},
	{"./internal/backfill/", "Rebuild", "rebuild from the raw cache ÷ DuckDB read_json of the same files; first run ÷ a bare fetch, v1 and v3"},
	{"./internal/seed/", "PostgresScan|ArchiveScan|DuckDBReadCSV", "seed readers ÷ DuckDB read_csv"},
	{"./internal/status/", "Gather10M", "status on 10M rows"},
	{"./internal/dashboard/", "Build10M", "dashboards on 10M transactions: time and peak RSS"},
}

// Bench runs the product's benchmarks with `go test -bench` (so it needs the
// Go toolchain, like the tests) and ends with one line a benchmark. They take
// long: the 10M-row ones generate their data first (tens of minutes in all).
func Bench(ctx context.Context, p Process) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	var results []string
	for _, b := range benchmarks {
		fmt.Fprintf(p.Stdout, "== %s (%s)\n", b.what, b.pkg)
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^Benchmark("+b.name+")$", "-benchtime", "1x", "-timeout", "120m", b.pkg)
		cmd.Dir = p.Dir
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = p.Stderr
		if err := cmd.Start(); err != nil {
			return exitcode.New(exitcode.Failure, fmt.Errorf("bench: start go test (the benchmarks need the Go toolchain): %w", err))
		}
		results = append(results, benchLines(io.TeeReader(out, p.Stdout))...)
		if err := cmd.Wait(); err != nil {
			return exitcode.New(exitcode.Failure, fmt.Errorf("bench: %s: %w", b.pkg, err))
		}
	}
	fmt.Fprintln(p.Stdout, "\nresults")
	for _, r := range results {
		fmt.Fprintln(p.Stdout, "  "+r)
	}
	return nil
}

// benchLines keeps the result lines of go test -bench output.
func benchLines(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "Benchmark") && strings.Contains(line, "ns/op") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return out
}
