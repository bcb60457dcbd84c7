package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Run is one backfill run's record.
type Run struct {
	ID          int64
	PID         int
	StartedAt   time.Time
	FinishedAt  time.Time // zero while running
	Outcome     string    // running | complete | partial | interrupted | failed
	Source      string
	Pages       int64
	Requests    int64
	Retries     int64
	Throttled   int64
	RowsWritten int64
	RowsDeleted int64
	CacheHits   int64
	CoveragePct float64
	Message     string
}

// StartRun records a run as running and returns its id.
func (s *Store) StartRun(ctx context.Context, r Run) (_ int64, err error) {
	defer diskFull(&err)
	var id int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(run_id), 0) + 1 FROM runs`).Scan(&id); err != nil {
		return 0, fmt.Errorf("start run: %w", err)
	}
	// A run still marked running was killed: say so instead of leaving it.
	if _, err := s.db.ExecContext(ctx, `UPDATE runs SET outcome = 'killed', message = 'the process ended without finishing its record (killed or crashed)' WHERE outcome = 'running'`); err != nil {
		return 0, fmt.Errorf("start run: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `
INSERT INTO runs (run_id, pid, started_at, outcome, source, pages, requests, retries, throttled, rows_written, rows_deleted, cache_hits)
VALUES (?, ?, ?, 'running', ?, 0, 0, 0, 0, 0, 0, 0)`, id, r.PID, r.StartedAt.UTC(), r.Source)
	if err != nil {
		return 0, fmt.Errorf("start run: %w", err)
	}
	return id, nil
}

// UpdateRun stores a run's counters (and, when finished, its outcome).
func (s *Store) UpdateRun(ctx context.Context, r Run) (err error) {
	defer diskFull(&err)
	var finished any
	if !r.FinishedAt.IsZero() {
		finished = r.FinishedAt.UTC()
	}
	_, err = s.db.ExecContext(ctx, `
UPDATE runs SET finished_at = ?, outcome = ?, source = ?, pages = ?, requests = ?, retries = ?, throttled = ?,
       rows_written = ?, rows_deleted = ?, cache_hits = ?, coverage_pct = ?, message = ?
WHERE run_id = ?`, finished, r.Outcome, r.Source, r.Pages, r.Requests, r.Retries, r.Throttled,
		r.RowsWritten, r.RowsDeleted, r.CacheHits, r.CoveragePct, r.Message, r.ID)
	if err != nil {
		return fmt.Errorf("update run %d: %w", r.ID, err)
	}
	return nil
}

// LastRun returns the newest run, or ok=false when there is none.
func (s *Store) LastRun(ctx context.Context) (Run, bool, error) {
	var r Run
	var finished sql.NullTime
	var cov sql.NullFloat64
	var msg sql.NullString
	err := s.db.QueryRowContext(ctx, `
SELECT run_id, pid, started_at, finished_at, outcome, source, pages, requests, retries, throttled,
       rows_written, rows_deleted, cache_hits, coverage_pct, message
FROM runs ORDER BY run_id DESC LIMIT 1`).Scan(&r.ID, &r.PID, &r.StartedAt, &finished, &r.Outcome, &r.Source,
		&r.Pages, &r.Requests, &r.Retries, &r.Throttled, &r.RowsWritten, &r.RowsDeleted, &r.CacheHits, &cov, &msg)
	if err == sql.ErrNoRows {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("last run: %w", err)
	}
	r.FinishedAt, r.CoveragePct, r.Message = finished.Time, cov.Float64, msg.String
	return r, true, nil
}
