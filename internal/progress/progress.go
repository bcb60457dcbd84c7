// Package progress is the live state a running backfill publishes next to the
// database, so that `status` can report on it while DuckDB's file lock keeps
// every other process out of the database itself. The file is replaced with
// package atomicfile, so a reader never sees half of it.
package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stxwallets/walletcache/internal/atomicfile"
	"github.com/stxwallets/walletcache/internal/chain"
)

// Phase is what a backfill is doing: PhasePlanning or PhaseFetching while
// it runs, then the Outcome it ended with.
type Phase string

// The phases of a running backfill.
const (
	PhasePlanning Phase = "planning"
	PhaseFetching Phase = "fetching"
)

// Outcome is how a backfill run ended; the runs table and the progress
// file's last phase hold it.
type Outcome string

// The outcomes of a run.
const (
	// OutcomeComplete: the horizon is covered and the tail fetched.
	OutcomeComplete Outcome = "complete"
	// OutcomePartial: the iteration or page limits ended the run first.
	OutcomePartial Outcome = "partial"
	// OutcomeInterrupted: Ctrl+C; what arrived was committed.
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomeFailed: an error ended the run; its message says which.
	OutcomeFailed Outcome = "failed"
)

// Phase is the phase a run that ended with o shows last.
func (o Outcome) Phase() Phase { return Phase(o) }

// State is what a running backfill publishes.
type State struct {
	PID             int       `json:"pid"`
	Program         string    `json:"program"`
	StartedAt       time.Time `json:"started_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	Running         bool      `json:"running"`
	Phase           Phase     `json:"phase"`
	Source          string    `json:"source"`
	Iteration       int       `json:"iteration"`
	UnitKind        string    `json:"unit_kind"`    // what the units are: windows (v1) or segments (v3)
	CurrentUnit     string    `json:"current_unit"` // the unit a worker took last
	UnitsPlanned    int       `json:"units_planned"`
	UnitsDone       int       `json:"units_done"`
	Pages           int64     `json:"pages"`
	PagesEstimate   int64     `json:"pages_estimate"`  // pages this iteration is expected to need
	IterationPages  int64     `json:"iteration_pages"` // pages committed in this iteration
	Rows            int64     `json:"rows"`
	Requests        int64     `json:"requests"`
	Retries         int64     `json:"retries"`
	Throttled       int64     `json:"throttled"`
	RequestsPerMin  float64   `json:"requests_per_minute"`
	TxPerSecond     float64   `json:"tx_per_second"`
	ETASeconds      float64   `json:"eta_seconds"`
	LastCommitAt    time.Time `json:"last_commit_at"`
	CoveragePercent float64   `json:"coverage_percent"` // as last committed
	TargetDays      int       `json:"target_days"`
	Message         string    `json:"message,omitempty"`
	// Limits is what the server last demanded of the rate budget, and what
	// the client believed of it (absent before any answer carried limits).
	Limits *Limits `json:"server_limits,omitempty"`
	// Committed describes the database as of the last iteration's end, for
	// readers that cannot open it while the backfill holds the lock.
	Committed *Committed `json:"committed,omitempty"`
}

// Limits is a server's rate-limit demand next to what the client keeps to:
// a server may ask for less than it can take, or for something absurd,
// and the client bounds what it believes.
type Limits struct {
	At                time.Time `json:"at"`
	PerMinute         float64   `json:"per_minute"`          // announced; 0 when not
	PerSecond         float64   `json:"per_second"`          // announced; 0 when not
	BelievedPerMinute float64   `json:"believed_per_minute"` // the budget kept to
	BelievedPerSecond float64   `json:"believed_per_second"`
	RetryAfterSeconds float64   `json:"retry_after_seconds"` // of the last 429; -1 when none
	Cost              int64     `json:"cost"`                // tokens one request costs; 0 when not announced
}

// Committed is a snapshot of the committed database.
type Committed struct {
	AsOf            time.Time `json:"as_of"`
	Rows            int64     `json:"rows"`
	Wallets         int64     `json:"wallets"`
	MinBlockTime    time.Time `json:"min_block_time"`
	MaxBlockTime    time.Time `json:"max_block_time"`
	CoveragePercent float64   `json:"coverage_percent"`
	HorizonStart    time.Time `json:"horizon_start"`
	HorizonEnd      time.Time `json:"horizon_end"`
	MissingRanges   []Range   `json:"missing_ranges"`
}

// Range is a closed time range.
type Range = chain.TimeRange

// PathFor is where the state of the database at dbPath is published.
func PathFor(dbPath string) string { return dbPath + ".progress.json" }

// Write replaces the file at path with s, atomically.
func Write(path string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode progress: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("write progress: %w", err)
	}
	return nil
}

// Read loads the state at path; ok is false when there is none.
func Read(path string) (s State, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("read progress %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, false, fmt.Errorf("read progress %s: %w", path, err)
	}
	return s, true, nil
}
