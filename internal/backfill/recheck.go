package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/store"
)

// totaler is a source that can say, cheaply, how many transactions a
// burn-time window holds.
type totaler interface {
	Total(ctx context.Context, start, end int64) (int64, error)
}

// recheck re-reads, once per run, the totals of the final windows that end
// within cfg.Recheck before the final edge, and re-opens every window whose
// total changed. Bitcoin timestamps can run backwards by more than the
// settle margin, so a window called final can still grow; this costs one
// small request a window. Re-opening drops the window and the v3 segments
// whose rows span it, so whichever source runs next fetches it again.
func (r *run) recheck(ctx context.Context, it *Iteration) error {
	if r.cfg.Recheck <= 0 || r.rechecked || r.cfg.Offline { // the re-check asks the server
		return nil
	}
	r.rechecked = true
	t, ok := r.cfg.V1.(totaler)
	if !ok || r.sources.failed[SourceV1] {
		r.log.Debug("no source can re-check window totals; skipping the re-check")
		return nil
	}
	from := it.Bounds.FinalEdge - int64(r.cfg.Recheck/time.Second)
	var check []store.Window
	for _, w := range it.Windows {
		if w.Covered() && w.End > from && w.End <= it.Bounds.FinalEdge {
			check = append(check, w)
		}
	}
	// The totals go out together (the client bounds how many at once):
	// one after another, each costs a round trip before any walk starts.
	totals := make([]int64, len(check))
	asks := make([]func(context.Context) error, len(check))
	for i, w := range check {
		asks[i] = func(ctx context.Context) (err error) {
			totals[i], err = t.Total(ctx, w.Start, w.End)
			return err
		}
	}
	err := together(ctx, asks)
	if errors.Is(err, hiro.ErrGone) {
		r.log.Info("v1 is gone; skipping the re-check of recent final windows")
		return nil
	}
	if err != nil {
		return err
	}
	var reopen []store.Window
	for i, w := range check {
		if n := totals[i]; n != w.StoredRows {
			r.log.Warn("a final window changed after it was verified (a Bitcoin timestamp ran backwards); fetching it again",
				"window", span(w), "stored", w.StoredRows, "api_total", n)
			reopen = append(reopen, w)
		}
	}
	return r.reopen(ctx, it, reopen)
}

// reopen drops covered windows so that whichever source runs next fetches
// them again, past the raw cache: the windows, the v3 segments whose rows
// span them, and their cached v1 pages.
func (r *run) reopen(ctx context.Context, it *Iteration, reopen []store.Window) error {
	if len(reopen) == 0 {
		return nil
	}
	dbctx := context.WithoutCancel(ctx)
	st := r.cfg.Store
	segs, err := st.Segments(dbctx)
	if err != nil {
		return err
	}
	settle := it.Settle()
	var dropSegs []int64
	for _, g := range segs {
		for _, w := range reopen {
			if g.HasRows && g.MinBurn-settle <= w.End && w.Start <= g.MaxBurn+settle {
				dropSegs = append(dropSegs, g.ID)
				r.uncached.heights = append(r.uncached.heights, store.Span{Start: g.Lo, End: segTop(g)})
				break
			}
		}
	}
	// The cached pages of a re-opened window are what it was verified
	// with: stale. Forget them and read past the cache this run.
	for _, w := range reopen {
		r.uncached.times = append(r.uncached.times, store.Span{Start: w.Start, End: w.End})
		var keys []string
		for off := int64(0); off <= max(w.StoredRows, w.APITotal); off += hiro.PageLimit {
			keys = append(keys, CacheKey(SourceV1, span(w), off))
		}
		cacheDrop(&Iteration{run: r}, keys)
	}
	if err := st.SaveSegments(dbctx, nil, dropSegs); err != nil {
		return err
	}
	if err := st.DropWindows(dbctx, reopen); err != nil {
		return err
	}
	it.Windows, err = st.Windows(dbctx)
	return err
}

// uncachedSpans are what a run must read past the raw cache: windows
// (burn times) and segments (heights) re-opened by the re-check.
type uncachedSpans struct {
	times, heights []store.Span
}

func overlaps(spans []store.Span, lo, hi int64) bool {
	for _, s := range spans {
		if s.Start <= hi && lo <= s.End {
			return true
		}
	}
	return false
}

// driftSources are the sources whose windows a count of their rows
// verifies: a v1 window against the API's total, a seed's against its
// database's. A v3 window is left out: a walk's proof verifies it, and
// re-opening it would re-walk segments that can take the row back as
// often as it moves.
var driftSources = []string{SourceV1, seed.KindPostgres, seed.KindArchive}

// audit re-opens, at the end of an iteration, every covered window whose
// span no longer holds the rows it was verified with: a server that serves
// one transaction in two final windows, with two burn times, makes the
// second window's copy replace the row in the first, which would stay
// covered without it. Such a window is re-opened once in a run; one that
// drifts again is given up on (the run ends with an error naming it, and
// its span stays missing), so that two windows cannot take a row from
// each other for ever. An offline run, which cannot fetch it again, gives
// it up at once and keeps the raw cache's pages.
func (r *run) audit(ctx context.Context, it *Iteration) error {
	dbctx := context.WithoutCancel(ctx)
	drifted, now, err := r.cfg.Store.DriftedWindows(dbctx, driftSources...)
	if err != nil || len(drifted) == 0 {
		return err
	}
	for i, w := range drifted {
		label := windowLabel + span(w).String()
		r.log.Warn("a covered window no longer holds the rows it was verified with; the server serves one of its transactions elsewhere too",
			"window", span(w), "verified_with", w.StoredRows, "holds", now[i])
		changed := fmt.Sprintf("its rows changed after it was verified (verified with %d, now %d)", w.StoredRows, now[i])
		switch {
		case r.cfg.Offline:
			r.noteUnverified(&UnverifiedError{Unit: label, Start: w.Start, End: w.End, Attempts: 1,
				Detail: changed + ", and an offline run cannot fetch it again"})
		case r.drifted[label]:
			r.noteUnverified(&UnverifiedError{Unit: label, Start: w.Start, End: w.End, Attempts: 2,
				Detail: changed + ", twice in this run: the server serves a transaction of it in another window too"})
		}
		r.drifted[label] = true
	}
	if r.cfg.Offline {
		return r.cfg.Store.DropWindows(dbctx, drifted)
	}
	return r.reopen(ctx, it, drifted)
}
