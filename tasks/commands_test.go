package tasks

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// A bad policy, flag or environment value exits 2 and touches nothing.
func TestBadInputTouchesNothing(t *testing.T) {
	t.Parallel()
	status := func(ctx context.Context, p Process) error { return Status(ctx, p, false) }
	tests := []struct {
		name   string
		policy string
		env    map[string]string
		run    func(context.Context, Process) error
		want   string
	}{
		{name: "unknown key", policy: "sourc:\n  base_url: http://127.0.0.1:1\n", run: Backfill, want: "sourc"},
		{name: "out of range", policy: "source:\n  concurrency: 0\n", run: Backfill, want: "source.concurrency"},
		{name: "bad env value", env: map[string]string{"BACKFILL_TARGET_DAYS": "many"}, run: Backfill, want: "BACKFILL_TARGET_DAYS"},
		{name: "read-only backfill", env: map[string]string{"BACKFILL_READ_ONLY": "1"}, run: Backfill, want: "BACKFILL_READ_ONLY"},
		{name: "unknown api", policy: "source:\n  api: v4\n", run: Backfill, want: "source.api"},
		{name: "bad STATUS_FORMAT", env: map[string]string{"STATUS_FORMAT": "yaml"}, run: status, want: "STATUS_FORMAT"},
		{name: "status with a bad policy", policy: "horizon:\n  target_days: -1\n", run: status, want: "horizon.target_days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, simConfig(1, 5), "")
			if tt.policy != "" {
				if err := os.WriteFile(e.policy, []byte(tt.policy), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tt.env {
				e.setenv(k, v)
			}
			err := tt.run(context.Background(), e.proc())
			if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want exit 2 naming %q, got exit %d: %v", tt.want, exitcode.Of(err), err)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "data")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("a rejected command created the data folder")
			}
			if n := e.sim.Stats().Requests; n != 0 {
				t.Fatalf("a rejected command sent %d requests", n)
			}
		})
	}
}

// The API key goes out as x-api-key and is written nowhere: not in the
// database, the raw cache, the progress file or the output.
func TestAPIKeyNeverWritten(t *testing.T) {
	t.Parallel()
	const key = "hiro-secret-key-0123456789"
	e := newEnv(t, simConfig(1, 6), "")
	var out bytes.Buffer
	e.out = &out
	if err := os.WriteFile(filepath.Join(e.dir, ".env"), []byte("HIRO_API_KEY="+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.backfill(); err != nil {
		t.Fatal(err)
	}
	if err := Status(context.Background(), e.proc(), true); err != nil {
		t.Fatal(err)
	}
	if st := e.sim.Stats(); !st.SawAPIKey || st.LastAPIKey != key {
		t.Fatalf("the key was not sent: %+v", st.LastAPIKey)
	}
	if strings.Contains(out.String(), key) {
		t.Fatal("the key appeared in the output")
	}
	_ = filepath.WalkDir(filepath.Join(e.dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(key)) {
			t.Errorf("the key is written in %s", p)
		}
		return nil
	})
}

func TestPruneDryRunAndReal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(1, 7), "retention:\n  raw_days: 1")
	raw := filepath.Join(e.dir, "data", "raw")
	old := filepath.Join(raw, "hiro_transactions_2020-01-01")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "v1_1_2_o0_l50.json.gz"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Prune(context.Background(), e.procTo(&out), true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err != nil || !strings.Contains(out.String(), "would delete 1") {
		t.Fatalf("dry run deleted or misreported: %v %s", err, out.String())
	}
	out.Reset()
	if err := Prune(context.Background(), e.procTo(&out), false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(out.String(), "deleted 1") {
		t.Fatalf("prune kept the old folder: %v %s", err, out.String())
	}
}

// env:sync copies .env into other worktrees and never overwrites a
// different one without -force.
func TestEnvSync(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	repo, other, third := filepath.Join(root, "repo"), filepath.Join(root, "wt1"), filepath.Join(root, "wt2")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	git(repo, "init", "-q")
	git(repo, "commit", "-q", "--allow-empty", "-m", "init")
	git(repo, "worktree", "add", "-q", other)
	git(repo, "worktree", "add", "-q", third)
	_ = os.WriteFile(filepath.Join(repo, ".env"), []byte("HIRO_API_KEY=new\n"), 0o600)
	_ = os.WriteFile(filepath.Join(third, ".env"), []byte("HIRO_API_KEY=mine\n"), 0o600)
	var out bytes.Buffer
	proc := Process{Stdout: &out, Stderr: &out, LookupEnv: noEnv, Dir: repo}
	if err := EnvSync(context.Background(), proc, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(other, ".env")); string(b) != "HIRO_API_KEY=new\n" {
		t.Fatalf("not copied: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(third, ".env")); string(b) != "HIRO_API_KEY=mine\n" || !strings.Contains(out.String(), "NOT overwritten") {
		t.Fatalf("a different .env was overwritten or not reported: %q %s", b, out.String())
	}
	if strings.Contains(out.String(), "new") && strings.Contains(out.String(), "HIRO_API_KEY=") {
		t.Fatal("env:sync printed the file's contents")
	}
	if err := EnvSync(context.Background(), proc, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(third, ".env")); string(b) != "HIRO_API_KEY=new\n" {
		t.Fatalf("-force did not replace: %q", b)
	}
}

// The bench summary keeps go test's result lines only.
func TestBenchLines(t *testing.T) {
	t.Parallel()
	in := "goos: linux\nBenchmarkSeedLoad-2   \t       1\t12446000000 ns/op\t    0.69 ratio\nPASS\nok  \tx\t1s\n"
	got := benchLines(strings.NewReader(in))
	if len(got) != 1 || got[0] != "BenchmarkSeedLoad-2 1 12446000000 ns/op 0.69 ratio" {
		t.Fatalf("got %q", got)
	}
}

var updateGolden = flag.Bool("update", false, "rewrite golden files in testdata")

// The table of ratios reads each benchmark's metrics from its result line,
// computes the derived figures, and says which were not measured.
func TestBenchRatios(t *testing.T) {
	t.Parallel()
	lines := benchLines(strings.NewReader(`BenchmarkBackfillRateLimited/v1-2 	 1	80576440343 ns/op	 0 429s	 385.0 pages	 1.032 pages/min_pages	 388.0 requests	 1.008 requests/page	 1.044 wall/ideal
BenchmarkBackfillRateLimited/v3-2 	 1	89086773528 ns/op	 1.010 pages/min_pages	 1.012 requests/page	 1.090 wall/ideal
BenchmarkSeedLoad-2 	 1	397863436370 ns/op	 1.154 ratio	 27861 read_csv_rows/s	 4377 seed_peak_rss_MB	 32149 seed_rows/s
BenchmarkRebuild/v1-2 	 1	1656000000 ns/op	 0.04 ingest_vs_bare_fetch	 0.38 ratio
BenchmarkRebuild/v3-2 	 1	2843000000 ns/op	 0.04 ingest_vs_bare_fetch	 0.16 ratio
BenchmarkBackfillPeakRSS/v3-2 	 1	61000000000 ns/op	 1210 MB_per_M_rows	 190.0 peak_rss_MB_5d	 480.0 peak_rss_MB_20d	 480.0 peak_rss_MB	 9000 year_MB
`))
	var out strings.Builder
	writeRatios(&out, parseBench(lines))
	golden := filepath.Join("testdata", "bench_ratios.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Fatalf("table of ratios:\n%s\nwant:\n%s", out.String(), want)
	}
}
