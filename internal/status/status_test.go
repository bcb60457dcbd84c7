package status

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func lockedBy(pid int) func(context.Context) (*store.Store, error) {
	return func(context.Context) (*store.Store, error) {
		return nil, &store.LockError{Path: "/x.duckdb", PID: pid, Program: "mage", Alive: store.ProcessAlive(pid)}
	}
}

func inputs(db string, open func(context.Context) (*store.Store, error)) Inputs {
	return Inputs{Database: db, TargetDays: 30, Settle: 2 * time.Hour, MinPercent: 100, Stall: 10 * time.Minute,
		Now: func() time.Time { return now }, Open: open}
}

// deadPID is above Linux's default pid_max, so no such process runs.
const deadPID = 4194305

func TestGatherLocked(t *testing.T) {
	committed := &progress.Committed{AsOf: now.Add(-time.Minute), Rows: 10, Wallets: 3, CoveragePercent: 40,
		MinBlockTime: now.Add(-48 * time.Hour), MaxBlockTime: now.Add(-time.Hour),
		HorizonStart: now.Add(-30 * 24 * time.Hour), HorizonEnd: now.Add(-2 * time.Hour),
		MissingRanges: []progress.Range{{Start: now.Add(-30 * 24 * time.Hour), End: now.Add(-3 * 24 * time.Hour)}}}
	tests := []struct {
		name        string
		state       *progress.State
		holder      int
		wantLocked  bool
		wantRunning bool
		wantWarning string
	}{
		{name: "held by something that publishes nothing", holder: os.Getpid(), wantLocked: true},
		{name: "stale progress file from a dead PID", holder: os.Getpid(), wantLocked: true, wantWarning: "stale",
			state: &progress.State{PID: deadPID, Running: true, Phase: "fetching", StartedAt: now.Add(-time.Hour)}},
		{name: "a live backfill", holder: os.Getpid(), wantRunning: true,
			state: &progress.State{PID: os.Getpid(), Running: true, Phase: "fetching", StartedAt: now.Add(-time.Hour),
				LastCommitAt: now.Add(-2 * time.Second), Pages: 12, Committed: committed}},
		{name: "a live backfill that stalled", holder: os.Getpid(), wantRunning: true, wantWarning: "stalled",
			state: &progress.State{PID: os.Getpid(), Running: true, Phase: "fetching", StartedAt: now.Add(-time.Hour),
				LastCommitAt: now.Add(-15 * time.Minute), Committed: committed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "w.duckdb")
			if tt.state != nil {
				if err := progress.Write(progress.PathFor(db), *tt.state); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := Gather(context.Background(), inputs(db, lockedBy(tt.holder)))
			if err != nil {
				t.Fatal(err)
			}
			if (rep.Locked != nil) != tt.wantLocked || (rep.Running != nil) != tt.wantRunning {
				t.Fatalf("locked=%v running=%v", rep.Locked, rep.Running)
			}
			if tt.wantWarning != "" && !strings.Contains(strings.Join(rep.Warnings, "|"), tt.wantWarning) {
				t.Fatalf("warnings %v lack %q", rep.Warnings, tt.wantWarning)
			}
			if tt.wantRunning && (rep.CoveragePercent != 40 || rep.MeetsPolicy || rep.Rows != 10 || len(rep.MissingRanges) != 1) {
				t.Fatalf("live figures not taken from the snapshot: %+v", rep)
			}
		})
	}
}

func TestGatherNoDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.duckdb")
	rep, err := Gather(context.Background(), inputs(db, func(ctx context.Context) (*store.Store, error) {
		return store.Open(ctx, db, store.Options{ReadOnly: true})
	}))
	if err != nil || rep.Source != "none" || rep.MeetsPolicy || !strings.Contains(strings.Join(rep.Warnings, " "), "mage backfill") {
		t.Fatalf("%+v %v", rep, err)
	}
	// Nothing is stored: the whole horizon is missing, in JSON and text.
	if want := []Range{{Start: rep.HorizonStart, End: rep.HorizonEnd}}; len(rep.MissingRanges) != 1 || rep.MissingRanges[0] != want[0] {
		t.Fatalf("missing_ranges %v, want the whole horizon %v", rep.MissingRanges, want)
	}
	var buf bytes.Buffer
	WriteText(&buf, rep, now)
	checkGolden(t, "status_nodb.golden", bytes.ReplaceAll(buf.Bytes(), []byte(db), []byte("/data/cache/wallet_metrics.duckdb")))
}

// A run that never recorded its end is described from the progress file
// it published, when that file is the same run's.
func TestDeriveUnfinished(t *testing.T) {
	t.Parallel()
	started := now.Add(-time.Hour)
	unfinished := func() *LastRun { return &LastRun{StartedAt: started, Outcome: "running", Source: "v1"} }
	published := progress.State{PID: deadPID, StartedAt: started, UpdatedAt: started.Add(40 * time.Minute), Running: true,
		Phase: progress.PhaseFetching, Pages: 460, Requests: 470, Retries: 4, Throttled: 2, Rows: 23000}
	diskFull := published
	diskFull.Running, diskFull.Phase, diskFull.Message = false, "failed", "the disk is full; every committed page is safe"
	otherRun := published
	otherRun.StartedAt = started.Add(-24 * time.Hour)
	for _, tc := range []struct {
		name        string
		lr          *LastRun
		live        progress.State
		wantOutcome string
		wantPages   int64
		wantEnded   bool
	}{
		{"killed with -9", unfinished(), published, "killed or crashed", 460, false},
		{"ended on a full disk", unfinished(), diskFull, "failed", 460, true},
		{"another run's file", unfinished(), otherRun, "running", 0, false},
		{"a recorded run is left alone", &LastRun{StartedAt: started, Outcome: "complete", Pages: 7, FinishedAt: ptr(now)}, published, "complete", 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			deriveUnfinished(tc.lr, tc.live)
			if tc.lr.Outcome != tc.wantOutcome || tc.lr.Pages != tc.wantPages || (tc.lr.FinishedAt != nil) != tc.wantEnded {
				t.Fatalf("got %+v", tc.lr)
			}
		})
	}
	killed, full := unfinished(), unfinished()
	deriveUnfinished(killed, published)
	deriveUnfinished(full, diskFull)
	var buf bytes.Buffer
	for _, lr := range []*LastRun{killed, full} {
		rep := sample()
		rep.Running, rep.Source, rep.LastRun = nil, "database", lr
		WriteText(&buf, rep, now)
	}
	checkGolden(t, "status_unfinished.golden", buf.Bytes())
}

// checkGolden compares got with testdata/name (go test -update rewrites it).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s changed; run go test -update if intended.\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// The JSON carries every key docs/design.md#status-output promises.
func TestJSONKeys(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rows", "wallets", "min_block_time", "max_block_time", "target_days", "coverage_percent",
		"missing_ranges", "running", "last_run", "freshness_seconds", "database_bytes", "raw_cache_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if pid := m["running"].(map[string]any)["pid"]; pid != float64(4242) {
		t.Errorf("running.pid = %v", pid)
	}
	mr := m["missing_ranges"].([]any)[0].(map[string]any)
	if mr["start"] == nil || mr["end"] == nil {
		t.Errorf("missing range %v", mr)
	}
	// Every key of last_run, empty ones included.
	r := sample()
	r.LastRun.Source, r.LastRun.Message, r.LastRun.Derived = "", "", ""
	buf.Reset()
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	m = nil
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	last := m["last_run"].(map[string]any)
	for _, k := range []string{"started_at", "finished_at", "duration_seconds", "outcome", "source", "pages", "requests",
		"retries", "throttled", "rows_written", "rows_deleted", "cache_hits", "derived", "message"} {
		if _, ok := last[k]; !ok {
			t.Errorf("last_run lacks %q", k)
		}
	}
}

// The human report, pinned by a golden file (go test -update rewrites it).
func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	WriteText(&buf, sample(), now)
	golden := filepath.Join("testdata", "status.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Fatalf("status text changed; run go test -update if intended.\ngot:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func sample() Report {
	fin := now.Add(-20 * time.Hour)
	eta := 3725.0
	fresh := 310.0
	asOf := now.Add(-40 * time.Second)
	return Report{
		Database: "/data/cache/wallet_metrics.duckdb", Rows: 1234567, Wallets: 45678,
		MinBlockTime: ptr(now.Add(-30 * 24 * time.Hour)), MaxBlockTime: ptr(now.Add(-5 * time.Minute)),
		TargetDays: 30, CoveragePercent: 87.5, MinPercent: 100, HorizonStart: now.Add(-30 * 24 * time.Hour),
		HorizonEnd: now.Add(-2 * time.Hour), TipSeen: true,
		MissingRanges: []Range{{Start: now.Add(-30 * 24 * time.Hour), End: now.Add(-27*24*time.Hour - time.Second)}, {Start: now.Add(-50 * time.Hour), End: now.Add(-49*time.Hour - time.Second)}},
		Running: &Running{PID: 4242, StartedAt: now.Add(-time.Hour), Phase: "fetching", Iteration: 2,
			UnitKind: "windows", CurrentUnit: "window [2026-11-01 00:00:00 .. 2026-11-01 00:59:59]", UnitsDone: 10, UnitsPlanned: 80,
			Pages: 900, IterationPages: 400, PagesEstimate: 3200, Rows: 20000, RequestsPerMin: 49.5, TxPerSecond: 41.2, ETASeconds: &eta,
			LastCommitAt: now.Add(-3 * time.Second), SinceCommitSec: 3, CommittedAsOf: &asOf},
		LastRun: &LastRun{StartedAt: fin.Add(-2 * time.Hour), FinishedAt: &fin, DurationSec: 7200, Outcome: "partial",
			Pages: 5000, Requests: 5012, Retries: 12, Throttled: 3, RowsWritten: 250000, CacheHits: 100},
		FreshnessSeconds: &fresh, DatabaseBytes: 123456789, RawCacheBytes: 987654321, RawCacheFiles: 5000,
		RawCacheV1Percent: ptr(92.04), RawCacheV3Percent: ptr(100.0),
		ServerLimits: &progress.Limits{At: now.Add(-time.Minute), PerMinute: 0.001, PerSecond: 20, BelievedPerMinute: 10,
			BelievedPerSecond: 20, RetryAfterSeconds: 3600, Cost: 2},
		Source: "live", Warnings: []string{"example warning"},
	}
}
