package backfill

import (
	"context"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

// setPhase records what the run is doing now.
func (r *run) setPhase(phase progress.Phase, iter int) {
	r.mu.Lock()
	r.state.Phase, r.state.Iteration = phase, iter
	r.mu.Unlock()
}

// snapshot builds the live state from the counters. Pages and the
// estimate are of the current iteration: units not opened yet are assumed
// to need as many pages as the opened ones did on average. Rates are over
// the last minute, so they show what the run does now.
func (r *run) snapshot() progress.State {
	r.mu.Lock()
	s := r.state
	r.mu.Unlock()
	c := r.counters()
	now := time.Now()
	s.UpdatedAt = now.UTC()
	s.Pages, s.Rows = r.pages.Load(), r.rows.Load()
	s.Requests, s.Retries, s.Throttled = c.Requests, c.Retries, c.Throttled
	s.Limits = c.Limits
	s.UnitsDone = int(r.unitsDone.Load())
	s.LastCommitAt = time.Unix(0, r.lastCommit.Load()).UTC()
	iterPages := s.Pages - r.iterPages0.Load()
	known, opened := r.pagesKnown.Load(), r.unitsOpened.Load()
	est := known
	if opened > 0 && int64(s.UnitsPlanned) > opened {
		est += (int64(s.UnitsPlanned) - opened) * known / opened
	}
	s.PagesEstimate = max(est, iterPages)
	s.IterationPages = iterPages
	reqRate, rowRate, pageRate := r.rates.observe(now, c.Requests, s.Rows, s.Pages)
	s.RequestsPerMin, s.TxPerSecond = reqRate*60, rowRate
	if pageRate > 0 && s.PagesEstimate > iterPages {
		s.ETASeconds = float64(s.PagesEstimate-iterPages) / pageRate
	}
	return s
}

// rateWindow turns counters sampled about once a second into rates over
// the last minute (or since the start, when younger).
type rateWindow struct {
	mu      sync.Mutex
	samples []rateSample
}

type rateSample struct {
	at                    time.Time
	requests, rows, pages int64
}

func (w *rateWindow) observe(now time.Time, requests, rows, pages int64) (reqPerSec, rowsPerSec, pagesPerSec float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples = append(w.samples, rateSample{now, requests, rows, pages})
	for len(w.samples) > 2 && now.Sub(w.samples[1].at) >= time.Minute {
		w.samples = w.samples[1:]
	}
	first := w.samples[0]
	dt := now.Sub(first.at).Seconds()
	if dt < 2 { // too short to say anything
		return 0, 0, 0
	}
	return float64(requests-first.requests) / dt, float64(rows-first.rows) / dt, float64(pages-first.pages) / dt
}

// committedEvery is how often a run refreshes the committed snapshot it
// publishes for status.
const committedEvery = 30 * time.Second

// publish writes the live state for `status` every second, feeds the
// observer (or, without one, logs a progress line every minute), and warns
// when nothing has been committed for cfg.Stall.
func (r *run) publish(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastWarn := time.Time{}
	lastCommitted := time.Now()
	lastLog := time.Now()
	for {
		// Refresh the committed snapshot now and then, so status shows
		// coverage that moves during a long iteration.
		if time.Since(lastCommitted) >= committedEvery {
			lastCommitted = time.Now()
			r.mu.Lock()
			b := r.bounds
			r.mu.Unlock()
			if b.FinalEdge != 0 {
				if ws, err := r.cfg.Store.Windows(ctx); err == nil {
					r.publishCommitted(ctx, store.CoverageOf(b.Horizon(), ws))
				}
			}
		}
		s := r.snapshot()
		if r.cfg.ProgressPath != "" {
			if err := progress.Write(r.cfg.ProgressPath, s); err != nil {
				r.log.Debug("cannot publish progress", "err", err)
			}
		}
		if r.cfg.Observer != nil {
			r.cfg.Observer.Update(s)
		} else if time.Since(lastLog) >= r.cfg.LogEvery {
			lastLog = time.Now()
			eta := "unknown"
			if s.ETASeconds > 0 {
				eta = time.Duration(s.ETASeconds * float64(time.Second)).Round(time.Second).String()
			}
			r.log.Info("backfill progress", "iteration", s.Iteration, "phase", s.Phase,
				"pages", s.IterationPages, "pages_estimate", s.PagesEstimate, "pages_in_run", s.Pages, "rows", s.Rows,
				"tx_per_second", int64(s.TxPerSecond), "requests_per_minute", int64(s.RequestsPerMin), "throttled", s.Throttled,
				"units_done", s.UnitsDone, "units_planned", s.UnitsPlanned, "unit_kind", s.UnitKind,
				"eta", eta, "coverage_percent", round2(s.CoveragePercent))
		}
		if quiet := time.Since(s.LastCommitAt); s.Phase == progress.PhaseFetching && quiet > r.cfg.Stall && time.Since(lastWarn) > r.cfg.Stall {
			lastWarn = time.Now()
			r.log.Warn("backfill looks stalled: no page committed recently", "since_last_commit", quiet.Round(time.Second).String(),
				"requests", s.Requests, "throttled", s.Throttled, "retries", s.Retries)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// finalState publishes the end of the run, so status stops reporting it as
// running even before the process exits.
func (r *run) finalState(sum Summary) {
	s := r.snapshot()
	s.Running = false
	s.Phase = sum.Outcome.Phase()
	s.CoveragePercent = sum.Coverage.Percent
	s.Message = sum.Message
	if r.cfg.ProgressPath != "" {
		_ = progress.Write(r.cfg.ProgressPath, s)
	}
	if r.cfg.Observer != nil {
		r.cfg.Observer.Update(s)
		r.cfg.Observer.Done()
	}
}
