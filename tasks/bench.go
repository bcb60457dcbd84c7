package tasks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// benchmarks are the measurements `mage bench` runs, each against a limit
// measured in the same run (see each benchmark's doc comment).
var benchmarks = []struct{ pkg, name, what string }{
	{"./tasks/", "BackfillRateLimited", "rate-limited backfill: wall ÷ ideal, extra requests, v1 and v3"},
	{"./internal/backfill/", "SeedLoad", "seed load ÷ DuckDB read_csv of the same rows, peak RSS"},
	{"./internal/backfill/", "Rebuild", "rebuild from the raw cache ÷ DuckDB read_json of the same files; first run ÷ a bare fetch, v1 and v3"},
	{"./internal/backfill/", "BackfillPeakRSS", "backfill peak RSS from an unlimited server at two horizons, v1 and v3"},
	{"./internal/seed/", "PostgresScan|ArchiveScan|DuckDBReadCSV", "seed readers ÷ DuckDB read_csv"},
	{"./internal/status/", "Gather10M", "status on 10M rows"},
	{"./internal/dashboard/", "Build10M", "dashboards on 10M transactions: time and peak RSS"},
}

// Bench runs the product's benchmarks with `go test -bench` (so it needs the
// Go toolchain, like the tests) and ends with one line a benchmark and one
// table of ratios, each against its aim. They take
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
	fmt.Fprintln(p.Stdout)
	writeRatios(p.Stdout, parseBench(results))
	return nil
}

// benchMetrics is each benchmark's reported metrics by unit, keyed by the
// benchmark's name without the "Benchmark" prefix and the -GOMAXPROCS
// suffix ("Rebuild/v1").
type benchMetrics map[string]map[string]float64

// parseBench reads go test -bench result lines ("BenchmarkX/y-2 1 5 ns/op
// 0.7 ratio ...").
func parseBench(lines []string) benchMetrics {
	out := benchMetrics{}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		out[name] = m
	}
	return out
}

// benchRatio is one line of the table of ratios: a figure the benchmarks
// measure against the limit measured in the same run, and what the product
// aims for.
type benchRatio struct {
	what, bench string
	value       func(m map[string]float64) (float64, bool)
	format      string // of the value
	aim         string
}

// metric is the value of one reported unit.
func metric(unit string) func(map[string]float64) (float64, bool) {
	return func(m map[string]float64) (float64, bool) { v, ok := m[unit]; return v, ok }
}

// extraRequests is the share of requests beyond the fewest pages the rows
// need, in percent.
func extraRequests(m map[string]float64) (float64, bool) {
	perPage, ok1 := m["requests/page"]
	pages, ok2 := m["pages/min_pages"]
	return (perPage*pages - 1) * 100, ok1 && ok2
}

// idealOverWall is the share of the ideal pace (pages ÷ allowed rate) reached.
func idealOverWall(m map[string]float64) (float64, bool) {
	v, ok := m["wall/ideal"]
	return 1 / v, ok && v > 0
}

var benchRatios = []benchRatio{
	{"rebuild from the raw cache ÷ read_json, v1", "Rebuild/v1", metric("ratio"), "%.2f×", "≥ 1.0×"},
	{"rebuild from the raw cache ÷ read_json, v3", "Rebuild/v3", metric("ratio"), "%.2f×", "≥ 1.0×"},
	{"unlimited-server backfill ÷ bare fetch, v1", "Rebuild/v1", metric("ingest_vs_bare_fetch"), "%.2f×", "≥ 0.8×"},
	{"unlimited-server backfill ÷ bare fetch, v3", "Rebuild/v3", metric("ingest_vs_bare_fetch"), "%.2f×", "≥ 0.8×"},
	{"rate-limited: ideal ÷ wall, v1", "BackfillRateLimited/v1", idealOverWall, "%.3f", "≥ 0.98"},
	{"rate-limited: ideal ÷ wall, v3", "BackfillRateLimited/v3", idealOverWall, "%.3f", "≥ 0.98"},
	{"rate-limited: extra requests, v1", "BackfillRateLimited/v1", extraRequests, "%.1f %%", "≤ 1 %"},
	{"rate-limited: extra requests, v3", "BackfillRateLimited/v3", extraRequests, "%.1f %%", "≤ 1 %"},
	{"backfill peak RSS, v1, longest horizon (MB)", "BackfillPeakRSS/v1", metric("peak_rss_MB"), "%.0f", "< 300"},
	{"backfill peak RSS, v3, longest horizon (MB)", "BackfillPeakRSS/v3", metric("peak_rss_MB"), "%.0f", "< 300"},
	{"backfill peak RSS, v3, a year at its growth (MB)", "BackfillPeakRSS/v3", metric("year_MB"), "%.0f", "< 300"},
	{"seed load ÷ read_csv", "SeedLoad", metric("ratio"), "%.2f×", "≥ 0.8×"},
	{"seed load: peak RSS (MB)", "SeedLoad", metric("seed_peak_rss_MB"), "%.0f", "< 500"},
	{"dashboards on 10M rows (s)", "Build10M", metric("s/build"), "%.1f", "< 15"},
	{"dashboards on 10M rows: peak RSS (MB)", "Build10M", metric("peak-RSS-MB"), "%.0f", "< 2048"},
}

// writeRatios prints the table of ratios for what the benchmarks measured.
func writeRatios(w io.Writer, got benchMetrics) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ratios\tmeasured\taim")
	for _, r := range benchRatios {
		v, ok := r.value(got[r.bench])
		cell := "not measured"
		if ok {
			cell = fmt.Sprintf(r.format, v)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.what, cell, r.aim)
	}
	tw.Flush()
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
