package backfill_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
	"github.com/stxwallets/walletcache/internal/store/storetest"
)

// splitCell is a cell so large that the plan has few final segments (their
// cuts fall on it) and idle workers must split them.
const splitCell = 1600

// splitHarness is a v3 harness with few final segments, so that idle
// workers split them.
func splitHarness(t *testing.T, seed int64) *harness {
	t.Helper()
	h := newHarnessOf(t, backfill.SourceV3, hirosim.Config{Seed: seed})
	h.cfg.SegmentCell = splitCell
	return h
}

// offGridSplits counts the segments a split started off the cell grid:
// their walks begin where no plan's would.
func offGridSplits(t *testing.T, st *store.Store) int {
	t.Helper()
	segs, err := st.Segments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range segs {
		if !g.Open && g.Final && (g.Hi+1)%splitCell != 0 && g.Lo%splitCell != 0 {
			n++
		}
	}
	return n
}

// Walks split for idle workers leave the chain exactly; a rebuild from the
// raw cache under the plain plan reads the split walks' pages (no request
// for final history), and so does an offline one (none at all).
func TestV3SplitWalksRebuildFromTheCache(t *testing.T) {
	t.Parallel()
	h := splitHarness(t, 300)
	h.mustRun()
	h.exact()
	if n := offGridSplits(t, h.st); n == 0 {
		t.Fatal("no walk was split off the cell grid: the test does not test splits")
	}

	before := h.sim.Stats()
	h.open("rebuilt.duckdb")
	second := h.mustRun()
	h.exact()
	final, listed := h.finalListRequests(before, second.Coverage.Horizon.End)
	t.Logf("rebuild: %d of %d pages from the cache, %d list requests", second.CacheHits, second.Pages, listed)
	if len(final) != 0 {
		t.Fatalf("the rebuild asked the server for %d pages of final history: %v", len(final), final)
	}

	requests := h.sim.Stats().Requests
	h.goOffline()
	h.open("offline.duckdb")
	sum, err := backfill.Run(context.Background(), h.cfg)
	if err != nil {
		t.Fatalf("offline rebuild: %v", err)
	}
	if n := h.sim.Stats().Requests - requests; n != 0 {
		t.Fatalf("the offline rebuild sent %d requests", n)
	}
	h.exactIn(store.Span{Start: storetest.FarPast.Unix(), End: h.offlineCovered(sum)})
}

// cancelOnSplit is a log handler that cancels a run when a walk is split.
type cancelOnSplit struct {
	slog.Handler
	cancel func()
}

func (c cancelOnSplit) Enabled(context.Context, slog.Level) bool { return true }
func (c cancelOnSplit) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "split a walk for an idle worker" {
		c.cancel()
	}
	if r.Level < slog.LevelWarn {
		return nil
	}
	return c.Handler.Handle(ctx, r)
}

// Ctrl+C right after a split: what was committed stays, and the next run
// resumes both halves and leaves the chain exactly.
func TestV3SplitThenInterrupt(t *testing.T) {
	t.Parallel()
	h := splitHarness(t, 301)
	ctx, cancel := context.WithCancel(context.Background())
	h.cfg.Logger = slog.New(cancelOnSplit{Handler: testLogger(t).Handler(), cancel: cancel})
	sum, err := backfill.Run(ctx, h.cfg)
	if !errors.Is(err, backfill.ErrInterrupted) || sum.Outcome != progress.OutcomeInterrupted {
		t.Fatalf("interrupted run: %v, outcome %s (no split?)", err, sum.Outcome)
	}
	h.cfg.Logger = testLogger(t)
	h.mustRun()
	h.exact()
}
