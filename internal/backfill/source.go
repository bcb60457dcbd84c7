package backfill

import (
	"context"
	"time"

	"github.com/stxwallets/walletcache/internal/progress"

	"github.com/stxwallets/walletcache/internal/hiro"
)

// Source is one way of getting the transactions of the horizon: the API's
// v1 time windows (v1.go), its v3 keyset cursor (v3.go), or a database
// seed. The iteration loop (loop.go) is the same for every source: it reads
// the tip, fixes the bounds, asks the source for this iteration's work
// units, runs them with Concurrency workers within the page budget, lets
// the source record what finished units prove, and measures coverage from
// the verified windows. Adding a source is one file that implements this.
type Source interface {
	// Name is the source's name in logs, the runs table and status: one of
	// the Source* constants.
	Name() string
	// Tip reads the newest block the source serves.
	Tip(ctx context.Context) (hiro.Tip, error)
	// Plan turns what the horizon still lacks into this iteration's work
	// units, final ones first. It may update its own bookkeeping in the
	// store (forget stale records) but never the verified windows of
	// another source.
	Plan(ctx context.Context, it *Iteration) ([]Unit, error)
	// Prove records, as verified windows, what the units finished so far
	// prove. It runs after every finished unit and once at the end of the
	// iteration, one call at a time; a source whose units verify their own
	// windows (v1) has nothing to do here.
	Prove(ctx context.Context, it *Iteration) error
	// Counters reports the requests the source has sent so far.
	Counters() Counters
}

// Unit is one piece of an iteration's work: a v1 window, a v3 height
// segment. It knows its span, how to fetch its pages, and how it proves
// itself complete.
type Unit interface {
	// Label names the unit for people: "window 2026-01-02 03:00..03:59",
	// "heights 100..250".
	Label() string
	// Final is true when every row the unit covers is past the settle
	// margin: its pages may come from and go to the raw cache.
	Final() bool
	// Run fetches and commits the unit's pages until it is complete, the
	// page budget is used up (errBudget), ctx ends, or an error no retry
	// can fix. It reports whether the unit ended complete. A unit that
	// cannot be proven after its attempts returns an *UnverifiedError,
	// which ends that unit only.
	Run(ctx context.Context, it *Iteration) (bool, error)
}

// Source names, as the runs table, the progress file and status show them.
const (
	SourceV1 = "v1"
	SourceV3 = "v3"
)

// Counters are the request counts of a Source, and what the server last
// demanded of the rate budget (nil before it said anything).
type Counters struct {
	Requests, Retries, Throttled int64
	Limits                       *progress.Limits
}

// dataTip is a source that can say how new the data it serves is: a
// window is final only when the tip, the wall clock and the newest served
// transaction are all past it by the settle margin.
type dataTip interface {
	// NewestBurnTime is the burn_block_time of the newest transaction the
	// source serves; ok is false when it serves none.
	NewestBurnTime(ctx context.Context) (t time.Time, ok bool, err error)
}

// prober is a source that can tell whether the server serves it at all;
// api: auto probes it before choosing.
type prober interface {
	Probe(ctx context.Context) (bool, error)
}

// PageCache keeps raw pages of final units between runs.
type PageCache interface {
	Get(key string) ([]byte, bool, error)
	Put(key string, body []byte) error
	// Stage writes a page as Put would but out of sight, and returns a
	// name for Place (which then makes it the key's page) or Discard: a
	// v1 page waits for its window to verify before it is cached, and
	// waits on disk, not in memory.
	Stage(key string, body []byte) (staged string, err error)
	Place(key, staged string) error
	Discard(staged string)
	Delete(key string) error
}
