// Package status gathers and renders the coverage report of `mage status`:
// what the database holds, how much of the policy horizon is verified, what
// is missing, the last run, and a running backfill's live progress, which
// it reads from the state the backfill publishes because DuckDB lets no
// other process open the file while a writer holds it.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

// Range is a closed time range of missing coverage.
type Range = chain.TimeRange

// Running describes a backfill in progress.
type Running struct {
	PID            int        `json:"pid"`
	Program        string     `json:"program"`
	StartedAt      time.Time  `json:"started_at"`
	Phase          string     `json:"phase"`
	Iteration      int        `json:"iteration"`
	UnitKind       string     `json:"unit_kind"` // windows (v1) or segments (v3)
	CurrentUnit    string     `json:"current_unit"`
	UnitsDone      int        `json:"units_done"`
	UnitsPlanned   int        `json:"units_planned"`
	Pages          int64      `json:"pages"`           // in the whole run
	IterationPages int64      `json:"iteration_pages"` // in the current iteration
	PagesEstimate  int64      `json:"pages_estimate"`  // the current iteration is expected to need
	Rows           int64      `json:"rows"`
	Requests       int64      `json:"requests"`
	Throttled      int64      `json:"throttled"`
	RequestsPerMin float64    `json:"requests_per_minute"`
	TxPerSecond    float64    `json:"tx_per_second"`
	ETASeconds     *float64   `json:"eta_seconds"`
	LastCommitAt   time.Time  `json:"last_commit_at"`
	SinceCommitSec float64    `json:"seconds_since_last_commit"`
	Stalled        bool       `json:"stalled"`
	UpdatedAt      time.Time  `json:"updated_at"`
	CommittedAsOf  *time.Time `json:"committed_as_of"`
}

// LastRun is the newest run record.
type LastRun struct {
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	DurationSec float64    `json:"duration_seconds"`
	Outcome     string     `json:"outcome"`
	Source      string     `json:"source"` // the API the run paged: v1, v3, or v1->v3 after a switch; "" when it paged none
	Pages       int64      `json:"pages"`
	Requests    int64      `json:"requests"`
	Retries     int64      `json:"retries"`
	Throttled   int64      `json:"throttled"`
	RowsWritten int64      `json:"rows_written"`
	RowsDeleted int64      `json:"rows_deleted"`
	CacheHits   int64      `json:"cache_hits"`
	Message     string     `json:"message"` // "" when the run left none
	// Derived is set when the run never recorded its end (kill -9, a
	// crash, a full disk): the figures are what it last published, in its
	// progress file, of the pages it had committed. Empty otherwise; the
	// key is always there, like every key of last_run, for a consumer
	// that reads it without checking.
	Derived string `json:"derived"`
}

// Report is everything status says; its JSON form is the machine interface
// (docs/design.md#status-output) and keeps these key names.
type Report struct {
	Database        string     `json:"database"`
	Rows            int64      `json:"rows"`
	Wallets         int64      `json:"wallets"`
	MinBlockTime    *time.Time `json:"min_block_time"`
	MaxBlockTime    *time.Time `json:"max_block_time"`
	TargetDays      int        `json:"target_days"`
	CoveragePercent float64    `json:"coverage_percent"`
	MinPercent      float64    `json:"min_percent"`
	MeetsPolicy     bool       `json:"meets_policy"`
	HorizonStart    time.Time  `json:"horizon_start"`
	HorizonEnd      time.Time  `json:"horizon_end"`
	TipSeen         bool       `json:"tip_seen"`
	MissingRanges   []Range    `json:"missing_ranges"`
	Running         *Running   `json:"running"`
	LastRun         *LastRun   `json:"last_run"`
	// ServerLimits is what the server last demanded of the rate budget and
	// what the backfill kept to: live while one runs, else as the last run
	// saw it; null when no answer carried limits.
	ServerLimits     *progress.Limits `json:"server_limits"`
	FreshnessSeconds *float64         `json:"freshness_seconds"`
	DatabaseBytes    int64            `json:"database_bytes"`
	RawCacheBytes    int64            `json:"raw_cache_bytes"`
	RawCacheFiles    int64            `json:"raw_cache_files"`
	// RawCacheV1Percent and RawCacheV3Percent say how much of the
	// horizon's final history the raw cache holds, by v1 windows and by v3
	// heights (docs/design.md#status-output); null when it holds no page of
	// that source or cannot tell.
	RawCacheV1Percent *float64 `json:"raw_cache_v1_percent"`
	RawCacheV3Percent *float64 `json:"raw_cache_v3_percent"`
	// Source says where the figures come from: "database", "live" (the
	// running backfill's last committed snapshot) or "none" (no database).
	Source   string   `json:"source"`
	Warnings []string `json:"warnings"`
	// Locked is set when the database is held and no live state explains
	// it; the caller exits 4.
	Locked *store.LockError `json:"-"`
}

// Inputs are the policy values status needs.
type Inputs struct {
	Database      string
	TargetDays    int
	Settle        time.Duration
	MinPercent    float64
	Stall         time.Duration
	RawCacheBytes int64
	RawCacheFiles int64
	Now           func() time.Time
	// RawCacheShare, when set, measures how much of the horizon the raw
	// cache holds (v1 windows, v3 heights; nil: cannot tell). It must be
	// cheap: page keys only, no page read.
	RawCacheShare func(horizon store.Span) (v1, v3 *float64)
	// Open opens the database read-only (with its own lock handling).
	Open func(ctx context.Context) (*store.Store, error)
}

// Gather builds the report. It never writes anything.
func Gather(ctx context.Context, in Inputs) (Report, error) {
	if in.Now == nil {
		in.Now = time.Now
	}
	now := in.Now().UTC()
	r := Report{
		Database: in.Database, TargetDays: in.TargetDays, MinPercent: in.MinPercent,
		MissingRanges: []Range{}, Warnings: []string{},
		RawCacheBytes: in.RawCacheBytes, RawCacheFiles: in.RawCacheFiles,
	}
	r.DatabaseBytes = fileSize(in.Database) + fileSize(in.Database+".wal")

	live, haveLive, err := progress.Read(progress.PathFor(in.Database))
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the progress file is unreadable (%v); ignoring it", err))
	}
	alive := haveLive && live.Running && store.ProcessAlive(live.PID)

	st, err := in.Open(ctx)
	switch {
	case err == nil:
		defer st.Close()
		if haveLive && live.Running && live.PID != os.Getpid() {
			// The file says running but the database is free: the process
			// died (or its PID was reused) without finishing its record.
			r.Warnings = append(r.Warnings, fmt.Sprintf("a progress file says PID %d is backfilling since %s, but the database is not locked: that run was killed or crashed; `mage backfill` continues where it stopped", live.PID, live.StartedAt.Format(time.RFC3339)))
		}
		if err := fromDatabase(ctx, st, in, now, &r); err != nil {
			return r, err
		}
		if haveLive && r.LastRun != nil {
			deriveUnfinished(r.LastRun, live)
		}
	case errors.Is(err, store.ErrNoDatabase):
		r.Source = "none"
		r.Warnings = append(r.Warnings, fmt.Sprintf("no database at %s yet: run `mage backfill` to create it", in.Database))
		horizonFromTip(&r, in, now, 0)
		// Nothing is stored, so the whole horizon is missing.
		r.MissingRanges = []Range{{Start: r.HorizonStart, End: r.HorizonEnd}}
	case store.IsLocked(err):
		var le *store.LockError
		errors.As(err, &le)
		if !alive || live.PID != le.PID && le.PID != 0 {
			r.Locked = le
			if haveLive && live.Running && !store.ProcessAlive(live.PID) {
				r.Warnings = append(r.Warnings, fmt.Sprintf("the progress file is stale: PID %d is not running", live.PID))
			}
			return r, nil
		}
		fromLive(live, in, now, &r)
	default:
		return r, err
	}
	if in.RawCacheShare != nil {
		r.RawCacheV1Percent, r.RawCacheV3Percent = in.RawCacheShare(store.Span{Start: r.HorizonStart.Unix(), End: r.HorizonEnd.Unix()})
	}
	if alive && r.Source == "live" {
		r.Running = running(live, in, now)
		if live.Limits != nil {
			r.ServerLimits = live.Limits
		}
		if r.Running.Stalled {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the backfill looks stalled: no page committed for %s (check its log for 429s or errors)", time.Duration(r.Running.SinceCommitSec*float64(time.Second)).Round(time.Second)))
		}
	}
	r.MeetsPolicy = r.CoveragePercent >= r.MinPercent
	return r, nil
}

// fromDatabase fills the report from an open database.
func fromDatabase(ctx context.Context, st *store.Store, in Inputs, now time.Time, r *Report) error {
	r.Source = "database"
	f, err := st.TableFacts(ctx)
	if err != nil {
		return err
	}
	r.Rows, r.Wallets = f.Rows, f.Wallets
	if f.Rows > 0 {
		r.MinBlockTime, r.MaxBlockTime = ptr(f.MinBlockTime), ptr(f.MaxBlockTime)
		fresh := now.Sub(f.MaxBlockTime).Seconds()
		r.FreshnessSeconds = &fresh
	}
	var tip int64
	if v, ok, err := st.Meta(ctx, store.MetaTipBurnTime); err != nil {
		return err
	} else if ok {
		tip, _ = strconv.ParseInt(v, 10, 64)
	}
	horizonFromTip(r, in, now, tip)
	if v, ok, err := st.Meta(ctx, store.MetaServerLimits); err == nil && ok {
		var l progress.Limits
		if json.Unmarshal([]byte(v), &l) == nil {
			r.ServerLimits = &l
		}
	}
	ws, err := st.Windows(ctx)
	if err != nil {
		return err
	}
	cov := store.CoverageOf(store.Span{Start: r.HorizonStart.Unix(), End: r.HorizonEnd.Unix()}, ws)
	r.CoveragePercent = cov.Percent
	for _, m := range cov.Missing {
		r.MissingRanges = append(r.MissingRanges, m.Times())
	}
	run, ok, err := st.LastRun(ctx)
	if err != nil {
		return err
	}
	if ok {
		lr := &LastRun{StartedAt: run.StartedAt.UTC(), Outcome: run.Outcome, Source: run.Source, Pages: run.Pages, Requests: run.Requests,
			Retries: run.Retries, Throttled: run.Throttled, RowsWritten: run.RowsWritten, RowsDeleted: run.RowsDeleted,
			CacheHits: run.CacheHits, Message: run.Message}
		if !run.FinishedAt.IsZero() {
			lr.FinishedAt = ptr(run.FinishedAt.UTC())
			lr.DurationSec = run.FinishedAt.Sub(run.StartedAt).Seconds()
		}
		r.LastRun = lr
	}
	return nil
}

// deriveUnfinished fills in a last run that never recorded its end from
// the progress file it published, when that file is the same run's: its
// counters are of committed pages, so they say what the run did. A file
// that is no longer running holds the outcome the run could not write to
// the database (a full disk); one still "running" is of a process that
// was killed or crashed.
func deriveUnfinished(lr *LastRun, live progress.State) {
	if lr.FinishedAt != nil || lr.Outcome != "running" {
		return
	}
	if d := live.StartedAt.Sub(lr.StartedAt); d < -time.Second || d > time.Second {
		return // another run's file
	}
	lr.Pages, lr.Requests, lr.Retries, lr.Throttled, lr.RowsWritten = live.Pages, live.Requests, live.Retries, live.Throttled, live.Rows
	if !live.Running {
		lr.Outcome, lr.Message = string(live.Phase), live.Message
		lr.FinishedAt = ptr(live.UpdatedAt.UTC())
		lr.DurationSec = live.UpdatedAt.Sub(lr.StartedAt).Seconds()
		lr.Derived = "the run ended but could not record it in the database; figures and outcome are from its progress file"
		return
	}
	lr.Outcome = "killed or crashed"
	lr.DurationSec = live.UpdatedAt.Sub(lr.StartedAt).Seconds()
	lr.Derived = fmt.Sprintf("the run stopped without recording its end; figures are what it had committed by %s, from its progress file", live.UpdatedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// horizonFromTip sets the horizon from the last tip a backfill saw (see
// store.HorizonAt and docs/design.md#coverage); without one, the wall clock
// stands in for the tip.
func horizonFromTip(r *Report, in Inputs, now time.Time, tipBurn int64) {
	h := store.HorizonAt(now, tipBurn, in.TargetDays, in.Settle)
	r.TipSeen = tipBurn > 0
	r.HorizonStart, r.HorizonEnd = time.Unix(h.Start, 0).UTC(), time.Unix(h.End, 0).UTC()
}

// fromLive fills the report from the running backfill's last snapshot.
func fromLive(s progress.State, in Inputs, now time.Time, r *Report) {
	r.Source = "live"
	c := s.Committed
	if c == nil {
		r.Warnings = append(r.Warnings, "the running backfill has not committed a snapshot yet; figures appear after its first plan")
		horizonFromTip(r, in, now, 0)
		return
	}
	r.Rows, r.Wallets = c.Rows, c.Wallets
	if c.Rows > 0 {
		r.MinBlockTime, r.MaxBlockTime = ptr(c.MinBlockTime), ptr(c.MaxBlockTime)
		fresh := now.Sub(c.MaxBlockTime).Seconds()
		r.FreshnessSeconds = &fresh
	}
	r.CoveragePercent = c.CoveragePercent
	r.HorizonStart, r.HorizonEnd, r.TipSeen = c.HorizonStart, c.HorizonEnd, true
	for _, m := range c.MissingRanges {
		r.MissingRanges = append(r.MissingRanges, Range(m))
	}
	if s.TargetDays != 0 && s.TargetDays != in.TargetDays {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the running backfill uses target_days %d; coverage is measured on its horizon", s.TargetDays))
	}
}

// running summarises live state for the report.
func running(s progress.State, in Inputs, now time.Time) *Running {
	rn := &Running{PID: s.PID, Program: s.Program, StartedAt: s.StartedAt, Phase: string(s.Phase), Iteration: s.Iteration,
		UnitKind: s.UnitKind, CurrentUnit: s.CurrentUnit, UnitsDone: s.UnitsDone, UnitsPlanned: s.UnitsPlanned,
		Pages: s.Pages, IterationPages: s.IterationPages, PagesEstimate: s.PagesEstimate, Rows: s.Rows, Requests: s.Requests, Throttled: s.Throttled,
		RequestsPerMin: s.RequestsPerMin, TxPerSecond: s.TxPerSecond, LastCommitAt: s.LastCommitAt, UpdatedAt: s.UpdatedAt}
	if s.ETASeconds > 0 {
		rn.ETASeconds = ptr(s.ETASeconds)
	}
	rn.SinceCommitSec = now.Sub(s.LastCommitAt).Seconds()
	rn.Stalled = in.Stall > 0 && s.Phase == progress.PhaseFetching && now.Sub(s.LastCommitAt) > in.Stall
	if s.Committed != nil {
		rn.CommittedAsOf = ptr(s.Committed.AsOf)
	}
	return rn
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func ptr[T any](v T) *T { return &v }
