// Package backfill fills the store with every canonical transaction of the
// policy horizon. With the v1 source it plans closed time windows, fetches
// their pages (from the raw cache when a window is final, else from the API),
// commits each page with its bookkeeping in one transaction, and verifies
// each window against the total the API reports for it. With the v3 source
// it walks height segments along the keyset cursor and records the time the
// unbroken walks prove complete as verified windows (v3plan.go). A run
// switches from v1 to v3 when v1 answers 410 Gone, and back when v3
// disappears.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

// Source serves pages of closed windows and the chain tip.
type Source interface {
	// Name is the API flavour ("v1").
	Name() string
	// Page returns one page of window w at offset, oldest first, with the
	// exact response body for the raw cache.
	Page(ctx context.Context, w hiro.Window, offset int64) (hiro.TxPage, []byte, error)
	// Tip reads the newest block.
	Tip(ctx context.Context) (hiro.Tip, error)
	// Counters reports requests sent so far.
	Counters() Counters
}

// Counters are the request counts of a Source.
type Counters struct {
	Requests, Retries, Throttled int64
}

// PageCache keeps raw pages of final windows between runs.
type PageCache interface {
	Get(key string) ([]byte, bool, error)
	Put(key string, body []byte) error
	Delete(key string) error
}

// Config is everything a run needs.
type Config struct {
	Store *store.Store
	// Source pages /extended/v1/tx; V3 pages /extended/v3/transactions.
	// Either may be nil; when both are set they share one client.
	Source Source
	V3     CursorSource
	// API picks the source to start with: "v1", "v3", or "auto" (or "")
	// to probe v3 once and use it when the server serves it. Whatever it
	// starts with, a run switches to the other source when v1 answers 410
	// Gone or v3 disappears.
	API           string
	Cache         PageCache // nil: no raw cache
	TargetDays    int
	Settle        time.Duration
	Window        time.Duration
	MaxPages      int64 // per iteration
	MaxIterations int   // 0: until the target is reached
	ForceRefresh  bool  // never read pages from the cache
	Concurrency   int
	Stall         time.Duration // warn when nothing committed for this long
	Now           func() time.Time
	Logger        *slog.Logger
	// Observer, when set, is told about progress (the terminal bar).
	Observer Observer
	// ProgressPath is where live state is published for `status`.
	ProgressPath string
}

// Observer receives live progress; implementations must be cheap.
type Observer interface {
	Update(p progress.State)
	Done()
}

// ErrInterrupted is returned after a Ctrl+C: what arrived was committed.
var ErrInterrupted = errors.New("interrupted: stopped issuing requests and committed every page that had arrived")

// Summary is what a run did.
type Summary struct {
	RunID           int64
	Outcome         string // complete | partial | interrupted | failed
	Source          string // the sources used, in order: v1, v3, v1->v3
	Iterations      int
	Pages           int64
	CacheHits       int64
	Requests        int64
	Retries         int64
	Throttled       int64
	RowsWritten     int64
	RowsDeleted     int64
	WindowsVerified int
	WindowsFailed   int
	Coverage        store.Coverage
	Started         time.Time
	Elapsed         time.Duration
	Message         string
}

// maxAttempts bounds how often one window is fetched afresh in one
// iteration when what is stored does not match the API's total.
const maxAttempts = 3

// run is the state of one Run call.
type run struct {
	cfg     Config
	log     *slog.Logger
	started time.Time

	pages, cacheHits, rows, deleted atomic.Int64
	verified, failed, windowsDone   atomic.Int64
	lastCommit                      atomic.Int64 // unix nanos
	// Per iteration, for the estimate: pages the opened windows need (from
	// their totals), windows opened, and the page count at the start.
	pagesKnown, windowsOpened, iterPages0 atomic.Int64
	rates                                 rateWindow

	mu        sync.Mutex
	state     progress.State
	bounds    Bounds // of the current iteration; zero before the first plan
	commits   chan commitReq
	cacheWarn sync.Once

	v3 v3State
}

// Run backfills until the horizon is covered, the iteration limit is hit,
// or ctx is cancelled (then it commits what arrived and returns
// ErrInterrupted).
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Hour
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 5000
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 10 * time.Minute
	}
	if cfg.Source == nil && cfg.V3 == nil {
		return Summary{Outcome: "failed"}, errors.New("backfill: no source configured")
	}
	r := &run{cfg: cfg, log: cfg.Logger, started: time.Now()}
	r.lastCommit.Store(r.started.UnixNano())
	r.state = progress.State{
		PID: os.Getpid(), Program: programName(), StartedAt: r.started.UTC(), Running: true,
		Phase: "planning", Source: r.sourceLabel(), TargetDays: cfg.TargetDays,
	}
	sum := Summary{Started: r.started, Outcome: "failed"}
	// Bookkeeping must land even after Ctrl+C cancelled ctx.
	dbctx := context.WithoutCancel(ctx)
	runID, err := cfg.Store.StartRun(dbctx, store.Run{PID: os.Getpid(), StartedAt: r.started, Source: r.sourceLabel()})
	if err != nil {
		return sum, err
	}
	sum.RunID, r.v3.runID = runID, runID

	r.commits = make(chan commitReq, cfg.Concurrency*4)
	committerDone := make(chan struct{})
	go func() { r.committer(dbctx); close(committerDone) }()
	pubCtx, stopPub := context.WithCancel(dbctx)
	pubDone := make(chan struct{})
	go func() { r.publish(pubCtx); close(pubDone) }()

	var bounds Bounds
	runErr := func() error {
		if err := r.chooseSource(ctx); err != nil {
			return err
		}
		for iter := 1; cfg.MaxIterations == 0 || iter <= cfg.MaxIterations; iter++ {
			sum.Iterations = iter
			it, b, err := r.runIteration(ctx, iter)
			if b.FinalEdge != 0 {
				bounds = b
			}
			if err != nil && ctx.Err() == nil && r.switchSource(err) {
				iter-- // the iteration starts over with the other source
				continue
			}
			if err != nil {
				return err
			}
			if it.complete {
				sum.Outcome = "complete"
				return nil
			}
			if it.progressed == 0 {
				sum.Message = "no window could be verified in the last iteration; the server's totals do not match what it serves (see the log)"
				if r.v3.mode == "v3" {
					sum.Message = "no window could be proven in the last iteration: the cursor walks did not reach burn times far enough past the gaps (see the log)"
				}
				return nil
			}
		}
		return nil
	}()
	close(r.commits)
	<-committerDone
	stopPub()
	<-pubDone

	sum.Pages, sum.CacheHits = r.pages.Load(), r.cacheHits.Load()
	sum.RowsWritten, sum.RowsDeleted = r.rows.Load(), r.deleted.Load()
	sum.WindowsVerified, sum.WindowsFailed = int(r.verified.Load()), int(r.failed.Load())
	c := r.counters()
	sum.Requests, sum.Retries, sum.Throttled = c.Requests, c.Retries, c.Throttled
	sum.Source = r.sourceLabel()
	sum.Elapsed = time.Since(r.started)
	if bounds.FinalEdge != 0 {
		if ws, err := cfg.Store.Windows(dbctx); err == nil {
			sum.Coverage = store.CoverageOf(bounds.Horizon(), ws)
		}
	}
	switch {
	case runErr != nil && ctx.Err() != nil:
		sum.Outcome, runErr = "interrupted", ErrInterrupted
	case runErr != nil:
		sum.Outcome, sum.Message = "failed", runErr.Error()
	case sum.Outcome != "complete":
		sum.Outcome = "partial"
	}
	if err := cfg.Store.UpdateRun(dbctx, store.Run{
		ID: runID, FinishedAt: time.Now(), Outcome: sum.Outcome, Source: sum.Source,
		Pages: sum.Pages, Requests: sum.Requests, Retries: sum.Retries, Throttled: sum.Throttled,
		RowsWritten: sum.RowsWritten, RowsDeleted: sum.RowsDeleted, CacheHits: sum.CacheHits,
		CoveragePct: sum.Coverage.Percent, Message: sum.Message,
	}); err != nil && runErr == nil {
		runErr = err
	}
	r.finalState(sum)
	return sum, runErr
}

// iterResult is what one iteration achieved.
type iterResult struct {
	complete   bool  // nothing is left to fetch for the horizon, tail fetched
	progressed int64 // pages committed plus windows verified
}

// iteration reads the tip, plans, and fetches up to MaxPages pages.
func (r *run) iteration(ctx context.Context, iter int) (iterResult, Bounds, error) {
	cfg := r.cfg
	r.setPhase("planning", iter)
	tip, err := cfg.Source.Tip(ctx)
	if err != nil {
		return iterResult{}, Bounds{}, fmt.Errorf("iteration %d: %w", iter, err)
	}
	now := cfg.Now().UTC()
	b := Bounds{
		HorizonStart: now.Add(-time.Duration(cfg.TargetDays) * 24 * time.Hour).Unix(),
		FinalEdge:    tip.BurnBlockTime.Add(-cfg.Settle).Unix(),
		TailEnd:      max(now.Unix(), tip.BurnBlockTime.Unix()),
	}
	dbctx := context.WithoutCancel(ctx)
	if err := cfg.Store.SetMeta(dbctx, store.MetaTipBurnTime, strconv.FormatInt(tip.BurnBlockTime.Unix(), 10)); err != nil {
		return iterResult{}, b, err
	}
	if err := cfg.Store.SetMeta(dbctx, store.MetaTipHeight, strconv.FormatInt(tip.Height, 10)); err != nil {
		return iterResult{}, b, err
	}
	windows, err := cfg.Store.Windows(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	nextID, err := cfg.Store.NextWindowID(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	plan, drop := Plan(b, windows, int64(cfg.Window/time.Second), nextID)
	if err := cfg.Store.DropWindows(dbctx, drop); err != nil {
		return iterResult{}, b, err
	}
	cov := store.CoverageOf(b.Horizon(), windows)
	finalLeft := 0
	for _, p := range plan {
		if p.Final {
			finalLeft++
		}
	}
	r.publishCommitted(dbctx, cov)
	r.mu.Lock()
	r.state.WindowsPlanned = len(plan)
	r.bounds = b
	r.mu.Unlock()
	r.windowsDone.Store(0)
	r.pagesKnown.Store(0)
	r.windowsOpened.Store(0)
	r.iterPages0.Store(r.pages.Load())
	r.log.Info("iteration planned", "iteration", iter, "coverage_percent", round2(cov.Percent),
		"windows_to_fetch", len(plan), "final_windows", finalLeft, "provisional_windows", len(plan)-finalLeft,
		"tip_height", tip.Height, "tip_burn_time", tip.BurnBlockTime.Format(time.RFC3339))

	pagesBefore := r.pages.Load()
	verifiedBefore := r.verified.Load()
	r.setPhase("fetching", iter)
	budget := &pageBudget{left: cfg.MaxPages}
	allVerified, err := r.fetchAll(ctx, plan, budget)
	if ctx.Err() != nil {
		return iterResult{}, b, ctx.Err()
	}
	if err != nil {
		return iterResult{}, b, err
	}
	progressed := (r.pages.Load() - pagesBefore) + (r.verified.Load() - verifiedBefore)
	windows, err = cfg.Store.Windows(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	cov = store.CoverageOf(b.Horizon(), windows)
	r.publishCommitted(dbctx, cov)
	c := cfg.Source.Counters()
	r.log.Info("iteration done", "iteration", iter, "coverage_percent", round2(cov.Percent),
		"missing_ranges", len(cov.Missing), "pages", r.pages.Load()-pagesBefore, "cache_hits", r.cacheHits.Load(),
		"rows_written", r.rows.Load(), "rows_deleted", r.deleted.Load(),
		"requests", c.Requests, "retries", c.Retries, "throttled", c.Throttled,
		"budget_exhausted", budget.exhausted(), "elapsed", time.Since(r.started).Round(time.Second).String())
	complete := !budget.exhausted() && allVerified && cov.Percent >= 100
	return iterResult{complete: complete || (len(plan) == 0), progressed: progressed}, b, nil
}

// pageBudget is max_pages for one iteration, shared by all workers.
type pageBudget struct {
	mu    sync.Mutex
	left  int64
	empty bool
}

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

func programName() string {
	if len(os.Args) > 0 {
		return os.Args[0]
	}
	return "walletcache"
}

// publishCommitted records the committed state of the database in the live
// progress, for status while this process holds the lock.
func (r *run) publishCommitted(ctx context.Context, cov store.Coverage) {
	c := &progress.Committed{
		AsOf: time.Now().UTC(), CoveragePercent: cov.Percent,
		HorizonStart: time.Unix(cov.Horizon.Start, 0).UTC(), HorizonEnd: time.Unix(cov.Horizon.End, 0).UTC(),
		MissingRanges: []progress.Range{},
	}
	for _, m := range cov.Missing {
		c.MissingRanges = append(c.MissingRanges, progress.Range{Start: time.Unix(m.Start, 0).UTC(), End: time.Unix(m.End, 0).UTC()})
	}
	if f, err := r.cfg.Store.TableFacts(ctx); err == nil {
		c.Rows, c.Wallets, c.MinBlockTime, c.MaxBlockTime = f.Rows, f.Wallets, f.MinBlockTime, f.MaxBlockTime
	} else {
		r.log.Debug("cannot read table facts", "err", err)
	}
	r.mu.Lock()
	r.state.CoveragePercent = cov.Percent
	r.state.Committed = c
	r.mu.Unlock()
}
