package backfill

import (
	"context"
	"time"

	"github.com/stxwallets/walletcache/internal/progress"
)

// setPhase records what the run is doing now.
func (r *run) setPhase(phase string, iter int) {
	r.mu.Lock()
	r.state.Phase, r.state.Iteration = phase, iter
	r.mu.Unlock()
}

// snapshot builds the live state from the counters.
func (r *run) snapshot() progress.State {
	r.mu.Lock()
	s := r.state
	r.mu.Unlock()
	c := r.cfg.Source.Counters()
	elapsed := time.Since(r.started).Seconds()
	s.UpdatedAt = time.Now().UTC()
	s.Pages, s.Rows = r.pages.Load(), r.rows.Load()
	s.Requests, s.Retries, s.Throttled = c.Requests, c.Retries, c.Throttled
	s.WindowsDone = int(r.windowsDone.Load())
	s.PagesEstimate = max(r.pagesEstimate.Load(), s.Pages)
	s.LastCommitAt = time.Unix(0, r.lastCommit.Load()).UTC()
	if elapsed > 0 {
		s.RequestsPerMin = float64(c.Requests) / elapsed * 60
		s.TxPerSecond = float64(s.Rows) / elapsed
		if s.Pages > 0 && s.PagesEstimate > s.Pages {
			s.ETASeconds = elapsed / float64(s.Pages) * float64(s.PagesEstimate-s.Pages)
		}
	}
	return s
}

// publish writes the live state for `status` every second, feeds the
// observer, and warns when nothing has been committed for cfg.Stall.
func (r *run) publish(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastWarn := time.Time{}
	for {
		s := r.snapshot()
		if r.cfg.ProgressPath != "" {
			if err := progress.Write(r.cfg.ProgressPath, s); err != nil {
				r.log.Debug("cannot publish progress", "err", err)
			}
		}
		if r.cfg.Observer != nil {
			r.cfg.Observer.Update(s)
		}
		if quiet := time.Since(s.LastCommitAt); s.Phase == "fetching" && quiet > r.cfg.Stall && time.Since(lastWarn) > r.cfg.Stall {
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
	s.Phase = sum.Outcome
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
