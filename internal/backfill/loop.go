package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

// Iteration is what one pass of the loop knows: the tip it read, the
// bounds that follow from it, the windows committed when it was planned,
// and the page budget its units share.
type Iteration struct {
	N       int
	Tip     hiro.Tip
	Bounds  Bounds
	Windows []store.Window
	budget  *pageBudget
	run     *run
	// queue is the units being run; a running unit may add to it (spawn).
	queue *workQueue[Unit]
	// onEnd runs when every unit has returned (a source's committer).
	onEnd []func()
	// landed, checked after onEnd, reports work a unit handed off before
	// it returned (a v3 walk's last runs of cached pages) that failed to
	// land.
	landed []func() error
	// more, when a source sets it, gives a worker that found no unit left
	// to start another one cut off the units still running (see forEachThen).
	more func() (Unit, bool)
}

// Settle is the settle margin in seconds.
func (it *Iteration) Settle() int64 { return int64(it.run.cfg.Settle / time.Second) }

// iterResult is what one iteration achieved.
type iterResult struct {
	complete   bool  // nothing is left to fetch for the horizon, tail fetched
	progressed int64 // pages that are progress plus windows verified
}

// iteration runs one pass of the loop with src: read the tip, plan, run
// the units within MaxPages, prove, measure.
func (r *run) iteration(ctx context.Context, n int, src Source) (iterResult, Bounds, error) {
	cfg := r.cfg
	dbctx := context.WithoutCancel(ctx)
	r.setPhase(progress.PhasePlanning, n)
	var tip hiro.Tip
	var err error
	_, replay := src.(*replaySource)
	var read <-chan newestTx // the newest transaction preflight read with the tip
	switch {
	case cfg.Offline:
		tip = r.offline.tip()
	case r.firstTip != nil && replay: // the probed tip stays for the API iteration after it
		tip = *r.firstTip
	case r.firstTip != nil && src == r.sources.inUse:
		tip, r.firstTip = *r.firstTip, nil
		read, r.firstNewest = r.firstNewest, nil
	default:
		r.firstTip, r.firstNewest = nil, nil
		if tip, err = src.Tip(ctx); err != nil {
			return iterResult{}, Bounds{}, fmt.Errorf("iteration %d: read the chain tip: %w", n, err)
		}
	}
	newest, served := tip.BurnBlockTime, true
	if d, ok := src.(dataTip); cfg.Offline {
		newest, served = time.Unix(r.offline.NewestBurnTime, 0), r.offline.Served
	} else if ok {
		if read != nil {
			x := <-read
			newest, served, err = x.t, x.served, x.err
		} else {
			newest, served, err = d.NewestBurnTime(ctx)
		}
		if err != nil {
			return iterResult{}, Bounds{}, fmt.Errorf("iteration %d: read the newest transaction: %w", n, err)
		}
	}
	b, err := r.boundsAt(tip, newest, served)
	if err != nil {
		return iterResult{}, Bounds{}, err
	}
	if err := r.saveTip(dbctx, tip); err != nil {
		return iterResult{}, b, err
	}
	windows, err := cfg.Store.Windows(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	it := &Iteration{N: n, Tip: tip, Bounds: b, Windows: windows, budget: &pageBudget{left: cfg.MaxPages}, run: r}
	if err := r.recheck(ctx, it); err != nil {
		return iterResult{}, b, err
	}
	units, err := src.Plan(ctx, it)
	if err != nil {
		return iterResult{}, b, err
	}
	if cfg.Offline {
		units = finalOnly(units)
	}
	// Plan may have recorded proofs a killed run left behind.
	if it.Windows, err = cfg.Store.Windows(dbctx); err != nil {
		return iterResult{}, b, err
	}
	cov := store.CoverageOf(b.Horizon(), it.Windows)
	final := 0
	for _, u := range units {
		if u.Final() {
			final++
		}
	}
	r.publishCommitted(dbctx, cov)
	r.mu.Lock()
	r.state.UnitsPlanned, r.state.UnitKind = len(units), unitKind(src)
	r.bounds = b
	r.mu.Unlock()
	r.unitsDone.Store(0)
	r.pagesKnown.Store(0)
	r.unitsOpened.Store(0)
	r.iterPages0.Store(r.pages.Load())
	// A raw cache with nothing to replay is not news: its pass logs at
	// debug level, so the log's first iteration is the one that fetches.
	logIter := r.log.Info
	if replay && len(units) == 0 {
		logIter = r.log.Debug
	}
	logIter("iteration planned", "iteration", n, "source", src.Name(), "coverage_percent", round2(cov.Percent),
		"units", len(units), "unit_kind", unitKind(src), "final_units", final, "provisional_units", len(units)-final,
		"tip_height", tip.Height, "tip_burn_time", tip.BurnBlockTime.UTC().Format(time.RFC3339))

	progressBefore, verifiedBefore, pagesBefore := r.progressPages.Load(), r.verified.Load(), r.pages.Load()
	r.setPhase(progress.PhaseFetching, n)
	var proveMu sync.Mutex // Prove runs one call at a time
	prove := func() error {
		proveMu.Lock()
		defer proveMu.Unlock()
		return src.Prove(dbctx, it)
	}
	proofs := newProver(prove)
	it.queue = newWorkQueue(units)
	allDone, err := forEachQueued(ctx, cfg.Concurrency, it.queue, it.budget, it.more, func(ctx context.Context, u Unit) (bool, error) {
		r.mu.Lock()
		r.state.CurrentUnit = u.Label()
		r.mu.Unlock()
		ok, err := u.Run(ctx, it)
		var unverified *UnverifiedError
		var notCached *NotCachedError
		switch {
		case errors.As(err, &unverified):
			r.failed.Add(1)
			r.noteUnverified(unverified)
			r.log.Error("unit failed verification", "unit", u.Label(), "err", err)
			return false, nil
		case errors.As(err, &notCached):
			r.noteNotCached(u.Label(), notCached)
			r.log.Warn("offline: the raw cache cannot rebuild this unit; it stays missing", "unit", u.Label(), "err", notCached)
			return false, nil
		}
		if err != nil || !ok {
			return false, err
		}
		r.unitsDone.Add(1)
		return true, proofs.request()
	})
	for _, f := range it.onEnd {
		f()
	}
	for _, f := range it.landed {
		if err == nil { // a unit that saw the failure has reported it already
			err = f()
		}
	}
	if perr := proofs.wait(); err == nil {
		err = perr
	}
	if ctx.Err() != nil {
		if r.unitsDone.Load() > 0 && err == nil {
			// What the finished units proved, their handed-off work
			// included, is kept for the summary and the next run.
			_ = prove()
		}
		return iterResult{}, b, ctx.Err()
	}
	if err != nil {
		return iterResult{}, b, err
	}
	if err := prove(); err != nil {
		return iterResult{}, b, err
	}
	if err := r.audit(ctx, it); err != nil {
		return iterResult{}, b, err
	}
	if windows, err = cfg.Store.Windows(dbctx); err != nil {
		return iterResult{}, b, err
	}
	cov = store.CoverageOf(b.Horizon(), windows)
	r.publishCommitted(dbctx, cov)
	r.keepRecord(it, src, newest.Unix(), served)
	c := src.Counters()
	logIter("iteration done", "iteration", n, "source", src.Name(), "coverage_percent", round2(cov.Percent),
		"missing_ranges", len(cov.Missing), "pages", r.pages.Load()-pagesBefore, "cache_hits", r.cacheHits.Load(),
		"rows_written", r.rows.Load(), "rows_deleted", r.deleted.Load(),
		"requests", c.Requests, "retries", c.Retries, "throttled", c.Throttled,
		"budget_exhausted", it.budget.exhausted(), "elapsed", time.Since(r.started).Round(time.Second).String())
	progressed := (r.progressPages.Load() - progressBefore) + (r.verified.Load() - verifiedBefore)
	complete := !it.budget.exhausted() && allDone && cov.Percent >= 100
	return iterResult{complete: complete, progressed: progressed}, b, nil
}

// spawn adds a unit to the running iteration: a v1 window's successor,
// planned once the window's first page told how dense its gap is. Final
// units go first, as Plan orders them; the caller counts it in forecast.
func (it *Iteration) spawn(u Unit) {
	it.queue.push(u, u.Final())
}

// forecast changes by n how many units the iteration expects to run, for
// the progress estimate: a gap whose windows are sized as they go says how
// many more it expects once it knows its density.
func (it *Iteration) forecast(n int) {
	r := it.run
	r.mu.Lock()
	r.state.UnitsPlanned = max(0, r.state.UnitsPlanned+n)
	r.mu.Unlock()
}

// finalOnly keeps the final units: an offline run cannot fetch the
// provisional ones, which never come from the raw cache.
func finalOnly(units []Unit) []Unit {
	out := units[:0:0]
	for _, u := range units {
		if u.Final() {
			out = append(out, u)
		}
	}
	return out
}

// unitKind names what a source's units are, for the progress bar and status.
func unitKind(src Source) string {
	if src.Name() == SourceV3 {
		return "segments"
	}
	return "windows"
}

// boundsAt fixes an iteration's horizon from the tip. Finality rests on
// three clocks that must all be past a window by the settle margin: the
// tip's burn time, the wall clock, and the newest burn time in the data the
// server serves (newest; served is false when it serves none). A tip that
// claims more than the other two is not believed, and the log says so; a
// horizon that would end before it starts is an error (coverage of an
// empty horizon would read as 100 %).
func (r *run) boundsAt(tip hiro.Tip, newest time.Time, served bool) (Bounds, error) {
	now := r.cfg.Now().UTC()
	burn := tip.BurnBlockTime.Unix()
	if burn > now.Unix() {
		r.log.Warn("the server's chain tip is stamped in the future; not believing it past the wall clock",
			"tip_burn_time", tip.BurnBlockTime.UTC().Format(time.RFC3339), "now", now.Format(time.RFC3339))
		burn = now.Unix()
	}
	switch {
	case !served:
		r.log.Warn("the server serves no transaction at all; nothing it says can be final")
		burn = 0
	case newest.Unix() < burn:
		if burn-newest.Unix() > int64(r.cfg.Settle/time.Second) {
			r.log.Warn("the chain tip claims more than the data the server serves; believing the data",
				"tip_burn_time", time.Unix(burn, 0).UTC().Format(time.RFC3339), "newest_tx_burn_time", newest.UTC().Format(time.RFC3339))
		}
		burn = newest.Unix()
	}
	h := store.HorizonAt(now, max(burn, 1), r.cfg.TargetDays, r.cfg.Settle)
	if h.End < h.Start {
		return Bounds{}, &ImplausibleTipError{Tip: tip, HorizonStart: time.Unix(h.Start, 0).UTC()}
	}
	r.believedTip.Store(burn)
	return Bounds{HorizonStart: h.Start, FinalEdge: h.End, TailEnd: max(now.Unix(), tip.BurnBlockTime.Unix())}, nil
}

// ImplausibleTipError is a chain tip too old for the horizon: a server
// that says its newest block is from 1970, or older than target_days.
type ImplausibleTipError struct {
	Tip          hiro.Tip
	HorizonStart time.Time
}

// Error says which tip was sent and why it cannot be true.
func (e *ImplausibleTipError) Error() string {
	return fmt.Sprintf("the server says its newest block (height %d) has burn time %s, before the horizon starts (%s): "+
		"it is not serving a current chain; check HIRO_API_URL", e.Tip.Height,
		e.Tip.BurnBlockTime.UTC().Format(time.RFC3339), e.HorizonStart.Format(time.RFC3339))
}

// saveTip leaves the tip for status: the burn time boundsAt believed, so
// status measures coverage on the same horizon.
func (r *run) saveTip(ctx context.Context, tip hiro.Tip) error {
	if err := r.cfg.Store.SetMeta(ctx, store.MetaTipBurnTime, strconv.FormatInt(r.believedTip.Load(), 10)); err != nil {
		return err
	}
	return r.cfg.Store.SetMeta(ctx, store.MetaTipHeight, strconv.FormatInt(tip.Height, 10))
}

// pageBudget is max_pages for one iteration, shared by all workers.
type pageBudget struct {
	mu    sync.Mutex
	left  int64
	empty bool
}

// errBudget ends a unit when the iteration's max_pages is used up.
var errBudget = errors.New("page budget of this iteration used up")

func (p *pageBudget) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.left <= 0 {
		p.empty = true
		return false
	}
	p.left--
	return true
}

func (p *pageBudget) exhausted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.empty
}

func round2(f float64) float64 { return float64(int64(f*100)) / 100 }

// prover runs a source's Prove in the background, so that a worker whose
// unit finished goes on to its next unit instead of waiting for the proof
// (which waits for the database's writer). Requests that arrive while a
// proof runs are served by one more proof after it, which sees everything
// that landed until then.
type prover struct {
	prove func() error

	mu      sync.Mutex
	idle    *sync.Cond // on mu: no proof is running
	running bool
	again   bool  // a request arrived while a proof ran
	err     error // the first proof that failed
}

func newProver(prove func() error) *prover {
	p := &prover{prove: prove}
	p.idle = sync.NewCond(&p.mu)
	return p
}

// request asks for a proof and returns at once, with the error of an
// earlier proof, if one failed (the pass then stops).
func (p *prover) request() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.running {
		p.again = true
		return nil
	}
	p.running = true
	go p.loop()
	return nil
}

// loop proves until no request is left.
func (p *prover) loop() {
	for {
		err := p.prove()
		p.mu.Lock()
		if err != nil && p.err == nil {
			p.err = err
		}
		if !p.again || p.err != nil {
			p.running, p.again = false, false
			p.idle.Broadcast()
			p.mu.Unlock()
			return
		}
		p.again = false
		p.mu.Unlock()
	}
}

// wait waits until no proof runs and returns the first that failed.
func (p *prover) wait() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.running {
		p.idle.Wait()
	}
	return p.err
}
