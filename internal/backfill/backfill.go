// Package backfill fills the store with every canonical transaction of the
// policy horizon. One loop (loop.go) serves every source: each iteration
// reads the tip, plans work units for what the horizon lacks, runs them
// within the page budget, and measures coverage from verified windows. The
// v1 source's units are closed burn-time windows verified against the
// total the API reports for them (v1.go); the v3 source's units are height
// segments walked along the keyset cursor, whose unbroken walks prove
// burn-time spans complete (v3.go, v3plan.go). A run switches from v1 to v3
// when v1 answers 410 Gone, and back when v3 disappears (switch.go). The
// rules are in docs/design.md.
package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

// Config is everything a run needs. Every field is required unless it says
// otherwise: defaults live in the policy package, not here.
type Config struct {
	Store *store.Store
	// V1 pages /extended/v1/tx by time windows; V3 walks
	// /extended/v3/transactions. Either may be nil; when both are set they
	// share one client (one rate budget, one set of request counters).
	V1, V3 Source
	// Seed, when set, runs first and fills every final window its snapshot
	// holds (a PostgreSQL database or archive of the API); the API sources
	// then fetch only the rest.
	Seed Source
	// Tip, when set, is the chain tip the caller just read from the API
	// sources' server: the run starts from it instead of asking again.
	Tip *hiro.Tip
	// API picks the source to start with: "v1", "v3", or "auto" (or "")
	// to probe v3 once and use it when the server serves it. Whatever it
	// starts with, a run switches to the other source when v1 answers 410
	// Gone or v3 disappears.
	API        string
	Cache      PageCache // nil: no raw cache
	TargetDays int
	Settle     time.Duration
	// Recheck is how far back from the final edge each run re-checks the
	// totals of final windows (0: never); it needs a V1 source.
	Recheck time.Duration
	// Window is the planning grid: windows start and end on its multiples
	// (but at the final edge), and a bulk load cuts its windows on it.
	Window time.Duration
	// WindowRows is the most rows a v1 window is planned to hold, so that
	// no page asks for a deep offset (0: DefaultWindowRows); windows are
	// sized to hold about 70 % of it (v1size.go).
	WindowRows int64
	// SegmentCell aligns v3 work on a grid of this many block heights, so
	// that pages cached by one run serve any later plan (0: no grid).
	SegmentCell   int64
	MaxPages      int64 // per iteration
	MaxIterations int   // 0: until the target is reached
	ForceRefresh  bool  // never read pages from the cache
	// Offline rebuilds from Cache alone and sends no request: the tip and
	// the v3 height lookups come from the record online iterations leave
	// in the cache (offline.go), only final units are planned, their pages
	// come only from the cache, and there is no probe and no re-check. A
	// page the cache lacks leaves its unit uncovered
	// (*OfflineIncompleteError).
	Offline bool
	// NoSplit stops idle workers from splitting running v3 walks
	// (v3split.go), for tests that compare the two.
	NoSplit     bool
	Concurrency int
	Stall       time.Duration // warn when nothing committed for this long
	// LogEvery is how often a run without an Observer (off a terminal)
	// logs a progress line.
	LogEvery time.Duration
	Now      func() time.Time
	Logger   *slog.Logger // nil: discard
	// Observer, when set, is told about progress (the terminal bar).
	Observer Observer
	// ProgressPath is where live state is published for `status` ("": nowhere).
	ProgressPath string
}

// validate reports the first field a run cannot do without.
func (c Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("backfill: no store configured")
	case c.V1 == nil && c.V3 == nil:
		return errors.New("backfill: no source configured")
	case c.Offline && c.Cache == nil:
		return errors.New("backfill: an offline run needs a raw cache")
	case c.Concurrency <= 0, c.MaxPages <= 0, c.Window <= 0, c.Stall <= 0, c.Settle < 0, c.TargetDays <= 0, c.LogEvery <= 0 && c.Observer == nil:
		return fmt.Errorf("backfill: concurrency %d, max_pages %d, window %s, stall %s, settle %s, target_days %d and log_every %s must all be positive",
			c.Concurrency, c.MaxPages, c.Window, c.Stall, c.Settle, c.TargetDays, c.LogEvery)
	}
	return nil
}

// Observer receives live progress; implementations must be cheap.
type Observer interface {
	Update(p progress.State)
	Done()
}

// ErrInterrupted is returned after a Ctrl+C: what arrived was committed.
var ErrInterrupted error = interrupted{}

// interrupted is ErrInterrupted's type: it owns its exit code.
type interrupted struct{}

func (interrupted) Error() string {
	return "interrupted: stopped issuing requests and committed every page that had arrived"
}

// ExitStatus is 130, the shell's code for a process stopped by Ctrl+C.
func (interrupted) ExitStatus() int { return exitcode.Interrupted }

// UnverifiedError is a unit whose stored rows never matched what the
// server says it holds, after every attempt this run allows. Its span stays
// uncovered; the rest of the run goes on.
type UnverifiedError struct {
	Unit     string // the unit's label
	Start    int64  // its burn-time span, unix seconds
	End      int64
	Attempts int
	Detail   string // what did not match
}

// Error names what was not verified and why.
func (e *UnverifiedError) Error() string {
	return fmt.Sprintf("%s did not verify after %d attempts: %s", e.Unit, e.Attempts, e.Detail)
}

// GaveUpError ends a run that had to give up on some units: everything
// else was fetched and committed, these spans stay missing.
type GaveUpError struct {
	Units []*UnverifiedError
}

// Error names the units given up on and what did not match.
func (e *GaveUpError) Error() string {
	parts := make([]string, 0, min(len(e.Units), 3))
	for i, u := range e.Units {
		if i == 3 {
			break
		}
		parts = append(parts, u.Error())
	}
	more := ""
	if len(e.Units) > 3 {
		more = fmt.Sprintf(" (and %d more)", len(e.Units)-3)
	}
	return fmt.Sprintf("the server's answers for %d unit(s) never matched, so they stay missing: %s%s; "+
		"the server is inconsistent there (duplicate, non-canonical or out-of-range rows, or a total that keeps changing)",
		len(e.Units), strings.Join(parts, "; "), more)
}

// Summary is what a run did.
type Summary struct {
	RunID           int64
	Outcome         progress.Outcome
	Seed            string        // the seed's kind (postgres, archive); "" without one
	SeedWindows     int           // final windows the seed filled and verified
	SeedSeconds     int64         // the burn-time seconds they span
	SeedElapsed     time.Duration // how long the seed took, before the API
	Source          string        // the sources used, in order: v1, v3, v1->v3
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

// maxAttempts bounds how often one unit is fetched afresh in one run when
// what is stored does not match what the server says.
const maxAttempts = 3

// run is the state of one Run call.
type run struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	runID   int64

	pages, cacheHits, rows, deleted atomic.Int64
	verified, failed, unitsDone     atomic.Int64
	// progressPages counts pages that are progress: of final units, and of
	// v3 segments below the open one, which restarts at the tip in every
	// iteration (its pages alone would keep a growing chain's run alive).
	progressPages atomic.Int64
	lastCommit    atomic.Int64 // unix nanos
	believedTip   atomic.Int64 // the tip burn time the last bounds rest on, unix seconds
	firstTip      *hiro.Tip    // read by preflight, for the first iteration of the source it chose
	seedWindows   atomic.Int64 // windows the seed verified
	seedSeconds   atomic.Int64 // the burn-time seconds they span
	rechecked     bool         // the recent final windows were re-checked in this run
	uncached      uncachedSpans
	// offline is the raw cache's record of the last tip and lookups: what
	// an offline run plans from, and what an online one adds to.
	offline offlineRecord
	lookups lookupLog

	// firstNewest is the newest served transaction, read by preflight
	// while it checks the chain, for the iteration that plans on firstTip.
	firstNewest <-chan newestTx

	// Per iteration, for the estimate: pages the opened units need, units
	// opened, and the page count at the start.
	pagesKnown, unitsOpened, iterPages0 atomic.Int64
	rates                               rateWindow

	mu        sync.Mutex
	state     progress.State
	bounds    Bounds // of the current iteration; zero before the first plan
	cacheWarn sync.Once
	cacheW    *cacheWriter // nil: cachePut writes at once
	// unverified are the units given up on in this run, by label.
	unverified map[string]*UnverifiedError
	// drifted are the windows the audit re-opened in this run, by label.
	drifted map[string]bool
	// notCached are the units an offline run found pages missing for.
	notCached map[string]*NotCachedError

	sources sourceChoice
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
	sum := Summary{Outcome: progress.OutcomeFailed}
	if err := cfg.validate(); err != nil {
		return sum, err
	}
	r := &run{cfg: cfg, log: cfg.Logger, started: time.Now(), unverified: map[string]*UnverifiedError{}, drifted: map[string]bool{}}
	sum.Started = r.started
	r.lastCommit.Store(r.started.UnixNano())
	r.state = progress.State{
		PID: os.Getpid(), Program: programName(), StartedAt: r.started.UTC(), Running: true,
		Phase: progress.PhasePlanning, Source: r.sourceLabel(), TargetDays: cfg.TargetDays,
	}
	// Before anything is written: which source, and is it the chain the
	// database and the raw cache hold?
	if err := r.preflight(ctx); err != nil {
		if ctx.Err() != nil {
			sum.Outcome = progress.OutcomeInterrupted
			return sum, ErrInterrupted
		}
		return sum, err
	}
	// Bookkeeping must land even after Ctrl+C cancelled ctx.
	dbctx := context.WithoutCancel(ctx)
	runID, err := cfg.Store.StartRun(dbctx, store.Run{PID: os.Getpid(), StartedAt: r.started, Source: r.sourceLabel()})
	if err != nil {
		return sum, err
	}
	sum.RunID, r.runID = runID, runID
	if err := cfg.Store.BoundMemory(dbctx); err != nil {
		return sum, err
	}
	defer boundGoHeap()()

	pubCtx, stopPub := context.WithCancel(dbctx)
	pubDone := make(chan struct{})
	go func() { r.publish(pubCtx); close(pubDone) }()

	if cfg.Cache != nil {
		r.startCacheWriter()
	}
	var bounds Bounds
	runErr := func() error {
		if cfg.Seed != nil && cfg.Offline {
			r.log.Info("offline: the seed is not read; the raw cache alone rebuilds", "seed", cfg.Seed.Name())
		}
		if cfg.Seed != nil && !cfg.Offline {
			sum.Seed = cfg.Seed.Name()
			sum.Iterations = 1
			r.log.Info("filling final history from the seed", "seed", cfg.Seed.Name())
			seedStart := time.Now()
			_, _, err := r.iteration(ctx, 1, cfg.Seed)
			sum.SeedElapsed = time.Since(seedStart)
			if err != nil {
				return fmt.Errorf("seed: %w", err)
			}
			r.log.Info("seed done; the API fetches the rest", "seed", cfg.Seed.Name(), "windows", r.seedWindows.Load())
		}
		if replay := r.replayer(); replay != nil {
			if _, _, err := r.iteration(ctx, 1, replay); err != nil {
				return fmt.Errorf("raw cache replay: %w", err)
			}
		}
		for iter := 1; cfg.MaxIterations == 0 || iter <= cfg.MaxIterations; iter++ {
			sum.Iterations = iter
			it, b, err := r.iteration(ctx, iter, r.sources.inUse)
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
				sum.Outcome = progress.OutcomeComplete
				return nil
			}
			if it.progressed == 0 {
				switch {
				case cfg.Offline && len(r.notCached) == 0:
					sum.Message = "offline: everything the raw cache can prove is rebuilt; the newest final hours " +
						"(a v3 walk proves them only from the chain tip) need a run online"
				case len(r.unverified) == 0 && len(r.notCached) == 0:
					sum.Message = "no unit could be completed in the last iteration (see the log)"
				}
				return nil
			}
		}
		return nil
	}()
	stopPub()
	<-pubDone
	r.cacheW.close()

	if runErr == nil && len(r.unverified) > 0 {
		runErr = r.gaveUp()
	}
	if runErr == nil {
		runErr = r.offlineIncomplete()
	}
	sum.Pages, sum.CacheHits = r.pages.Load(), r.cacheHits.Load()
	sum.RowsWritten, sum.RowsDeleted = r.rows.Load(), r.deleted.Load()
	sum.WindowsVerified, sum.WindowsFailed = int(r.verified.Load()), int(r.failed.Load())
	c := r.counters()
	sum.Requests, sum.Retries, sum.Throttled = c.Requests, c.Retries, c.Throttled
	sum.Source = r.sourceLabel()
	sum.SeedWindows, sum.SeedSeconds = int(r.seedWindows.Load()), r.seedSeconds.Load()
	sum.Elapsed = time.Since(r.started)
	if bounds.FinalEdge != 0 {
		if ws, err := cfg.Store.Windows(dbctx); err == nil {
			sum.Coverage = store.CoverageOf(bounds.Horizon(), ws)
		}
	}
	switch {
	case runErr != nil && ctx.Err() != nil:
		sum.Outcome, runErr = progress.OutcomeInterrupted, ErrInterrupted
	case runErr != nil:
		sum.Outcome, sum.Message = progress.OutcomeFailed, runErr.Error()
	case sum.Outcome != progress.OutcomeComplete:
		sum.Outcome = progress.OutcomePartial
	}
	if err := cfg.Store.UpdateRun(dbctx, store.Run{
		ID: runID, FinishedAt: time.Now(), Outcome: string(sum.Outcome), Source: sum.Source,
		Pages: sum.Pages, Requests: sum.Requests, Retries: sum.Retries, Throttled: sum.Throttled,
		RowsWritten: sum.RowsWritten, RowsDeleted: sum.RowsDeleted, CacheHits: sum.CacheHits,
		CoveragePct: sum.Coverage.Percent, Message: sum.Message,
	}); err != nil && runErr == nil {
		runErr = err
	}
	if c.Limits != nil {
		if b, err := json.Marshal(c.Limits); err == nil {
			_ = cfg.Store.SetMeta(dbctx, store.MetaServerLimits, string(b))
		}
	}
	r.finalState(sum)
	return sum, runErr
}

// preflight chooses the source and checks that it serves the chain the
// database and the raw cache were filled from.
func (r *run) preflight(ctx context.Context) error {
	rec, ok, err := readOfflineRecord(r.cfg.Cache)
	switch {
	case err != nil && r.cfg.Offline:
		return exitcode.New(exitcode.BadInput, err)
	case err != nil:
		r.log.Warn("the raw cache's offline record is unreadable; this run rewrites it", "err", err)
	case ok:
		r.offline = rec
	case r.cfg.Offline:
		return ErrNoOfflineRecord
	}
	if r.cfg.Offline {
		return r.preflightOffline(ctx)
	}
	if err := r.chooseSource(ctx); err != nil {
		return err
	}
	var tip hiro.Tip
	if r.cfg.Tip != nil {
		tip = *r.cfg.Tip
	} else {
		var err error
		if tip, err = r.sources.inUse.Tip(ctx); err != nil {
			return fmt.Errorf("read the chain tip: %w", err)
		}
	}
	r.firstTip = &tip // the first iteration plans on it: one request less
	if d, ok := r.sources.inUse.(dataTip); ok {
		// The first iteration's other clock, read while the chain is
		// checked: one round trip less before the first page.
		ch := make(chan newestTx, 1)
		go func() {
			var x newestTx
			x.t, x.served, x.err = d.NewestBurnTime(ctx)
			ch <- x
		}()
		r.firstNewest = ch
	}
	err = r.checkChain(ctx, r.sources.inUse, tip)
	if err == nil {
		err = r.checkSeedChain(ctx)
	}
	if err != nil && r.firstNewest != nil {
		<-r.firstNewest // no request outlives a run that stops here
	}
	return err
}

// newestTx is the answer of dataTip.NewestBurnTime.
type newestTx struct {
	t      time.Time
	served bool
	err    error
}

// noteUnverified records a unit given up on in this run.
func (r *run) noteUnverified(e *UnverifiedError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unverified[e.Unit] = e
}

// gaveUp is the error of a run that gave up on units, oldest first.
func (r *run) gaveUp() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := &GaveUpError{}
	for _, u := range r.unverified {
		e.Units = append(e.Units, u)
	}
	sort.Slice(e.Units, func(i, j int) bool { return e.Units[i].Start < e.Units[j].Start })
	return e
}

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

// goHeapLimit is the Go runtime's soft memory limit during a run, unless
// GOMEMLIMIT sets one. What a run keeps on the heap for good is the
// store's set of tx_id keys (4 bytes a stored row) and the pages in
// flight; the default collector lets the heap reach twice what is live,
// and the limit makes it collect sooner instead (docs/design.md#database,
// "Memory").
const goHeapLimit = 128 << 20

// boundGoHeap sets goHeapLimit when no limit is set and returns what puts
// the previous one back.
func boundGoHeap() (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(goHeapLimit)
	return func() { debug.SetMemoryLimit(prev) }
}
