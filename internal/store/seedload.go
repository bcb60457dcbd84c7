package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// SeedLoad writes a seed's rows with one INSERT … SELECT over a row feed
// (DuckDB pulls them while the producer makes the next), into a staging table of their
// own or, when the span held nothing, straight into transactions inside
// one open transaction; Finish then commits whole windows in one
// set-based transaction. A bulk load is bound by DuckDB, not by per-page
// bookkeeping. Until Finish, nothing of the load is visible; a killed load
// leaves at most the staging table, which the next load replaces.
type SeedLoad struct {
	s     *Store
	conn  *sql.Conn
	table string // where Write puts rows
	rows  int64
	// direct: the span held no rows, so rows go straight into
	// transactions inside one open transaction instead of being staged.
	direct bool
	// maybeStored counts staged rows whose tx_id may be stored already
	// (feedRows); when none is, Finish skips the scan that replaces them.
	maybeStored int
}

// ErrSeedConflict is a direct seed load that met a tx_id stored already
// (outside its span): Abort undoes it; load again with staging.
var ErrSeedConflict = errors.New("a seed row's tx_id is already stored outside the seeded span")

// seedStage is the staging table of a seed load.
const seedStage = "seed_stage"

// BeginSeedLoad starts a seed load of the burn-time span sp. When nothing
// is stored in sp (a first load) and stage is false, rows are appended
// straight into the transactions table inside one transaction, the fastest
// path; otherwise they are staged. The caller must Finish or Abort it.
func (s *Store) BeginSeedLoad(ctx context.Context, sp Span, stage bool) (l *SeedLoad, err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		s.writeMu.Unlock()
		return nil, fmt.Errorf("seed load: %w", err)
	}
	l = &SeedLoad{s: s, conn: conn, table: seedStage}
	if !stage {
		var n int64
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM transactions WHERE burn_block_time BETWEEN to_timestamp(?) AND to_timestamp(?)`,
			sp.Start, sp.End).Scan(&n); err != nil {
			l.release()
			return nil, fmt.Errorf("seed load: %w", err)
		}
		l.direct = n == 0
	}
	if l.direct {
		if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
			l.release()
			return nil, fmt.Errorf("seed load: %w", err)
		}
		l.table = "transactions"
	} else if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TABLE `+seedStage+` AS SELECT * FROM transactions LIMIT 0`); err != nil {
		l.release()
		return nil, fmt.Errorf("seed load: staging table: %w", err)
	}
	return l, nil
}

func (l *SeedLoad) release() {
	l.conn.Close()
	l.s.writeMu.Unlock()
}

// Write streams rows into the load in one statement: produce calls put
// with batches of rows (put copies them). An error of produce is returned
// as it is and leaves the load to Abort. In a direct load, a row whose
// tx_id is stored already (outside the span, or twice in the load) fails
// it with ErrSeedConflict once the rows are written; Abort undoes them.
func (l *SeedLoad) Write(ctx context.Context, produce func(put func([]chain.Tx) error) error) (err error) {
	var produced error
	n, maybe, err := l.s.feedRows(ctx, l.conn, l.table, func(put func([]chain.Tx) error) error {
		produced = produce(put)
		return produced
	})
	if err == nil && l.direct && maybe.n > 0 {
		// Rows the key set may have seen: refused unless none is stored
		// twice now (the set also holds keys of rows deleted since).
		twice := maybe.n > len(maybe.ids)
		if !twice {
			twice, err = storedTwice(ctx, l.conn, maybe.ids)
		}
		if err == nil && twice {
			return fmt.Errorf("seed load: %w", ErrSeedConflict)
		}
	}
	switch {
	case err == nil:
		l.rows += n
		l.maybeStored += maybe.n
		return nil
	case produced != nil && !errors.Is(produced, errFeedStopped):
		return err // the producer's own error, named by the producer
	}
	err = fmt.Errorf("seed load: write rows: %w", err)
	diskFull(&err)
	return err
}

// Abort drops what was staged.
func (l *SeedLoad) Abort() {
	if l.direct {
		_, _ = l.conn.ExecContext(context.Background(), "ROLLBACK")
	}
	_, _ = l.conn.ExecContext(context.Background(), `DROP TABLE IF EXISTS `+seedStage)
	l.release()
}

// SeedWindow is a window a seed load fills, with the number of rows the
// seed says it holds.
type SeedWindow struct {
	Window
	SeedCount int64
}

// SeedResult is what Finish did.
type SeedResult struct {
	Rows     int64   // rows written (staged rows, each tx_id once)
	Deleted  int64   // stored rows in the windows the seed does not hold
	Stored   []int64 // rows stored in each window afterwards
	Verified []bool  // Stored equals the seed's count, per window
}

// Finish commits the load in one transaction: stored rows of the windows
// that the seed does not hold have left the canonical chain and are
// deleted, the staged rows replace any stored copies, and every window is recorded as
// final and verified when what is stored equals the seed's count (else as
// unverified, for the API to fetch).
//
// A staged load's steps read every staged row at once (a DISTINCT ON, a
// join), which DuckDB cannot do within a backfill's memory limit; they run
// with the limit lifted (Store.withFullMemory).
func (l *SeedLoad) Finish(ctx context.Context, source string, windows []SeedWindow) (res SeedResult, err error) {
	defer diskFull(&err)
	defer l.release()
	if l.direct {
		return l.finish(ctx, source, windows)
	}
	err = l.s.withFullMemory(ctx, func() error {
		res, err = l.finish(ctx, source, windows)
		return err
	})
	return res, err
}

// finish is Finish without the lock's release and the memory limit.
func (l *SeedLoad) finish(ctx context.Context, source string, windows []SeedWindow) (res SeedResult, err error) {
	c := l.conn
	if !l.direct {
		if _, err := c.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
			return res, fmt.Errorf("seed load: %w", err)
		}
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
		_, _ = c.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+seedStage)
		_, _ = c.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS seed_windows`)
	}()
	if _, err := c.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE seed_windows (window_id BIGINT, attempt INTEGER, start_time BIGINT, end_time BIGINT, seed_count BIGINT)`); err != nil {
		return res, fmt.Errorf("seed load: %w", err)
	}
	for i := 0; i < len(windows); i += 1000 {
		part := windows[i:min(i+1000, len(windows))]
		var sb strings.Builder
		args := make([]any, 0, len(part)*5)
		sb.WriteString(`INSERT INTO seed_windows VALUES `)
		for k, w := range part {
			if k > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, w.ID, w.Attempt, w.Start, w.End, w.SeedCount)
		}
		if _, err := c.ExecContext(ctx, sb.String(), args...); err != nil {
			return res, fmt.Errorf("seed load: record windows: %w", err)
		}
	}
	steps := []struct {
		what string
		q    string
		n    *int64
	}{
		{"remove rows the seed does not hold", `
DELETE FROM transactions WHERE tx_id IN (
  SELECT t.tx_id FROM transactions t JOIN seed_windows w
    ON t.burn_block_time BETWEEN to_timestamp(w.start_time) AND to_timestamp(w.end_time)
  WHERE t.tx_id NOT IN (SELECT tx_id FROM ` + seedStage + `))`, &res.Deleted},
		// Stored copies of the staged rows (in the windows or elsewhere)
		// give way to them; replaced is cleared below when no staged row
		// can be stored, which spares the scan of every tx_id.
		{"replace rows already stored", `DELETE FROM transactions WHERE tx_id IN (SELECT tx_id FROM ` + seedStage + `)`, nil},
		{"write the rows", `INSERT INTO transactions
SELECT DISTINCT ON (tx_id) * FROM ` + seedStage, &res.Rows},
		{"forget page bookkeeping", `DELETE FROM window_pages WHERE window_id IN (SELECT window_id FROM seed_windows)`, nil},
		{"forget seen rows", `DELETE FROM window_seen WHERE window_id IN (SELECT window_id FROM seed_windows)`, nil},
		{"count the version", bumpVersion, nil},
	}
	switch {
	case l.direct: // nothing was stored in the span: only the bookkeeping remains
		res.Rows = l.rows
		steps = steps[3:]
	case l.maybeStored == 0: // no staged row is stored: nothing to replace
		steps = append(steps[:1], steps[2:]...)
	}
	for _, st := range steps {
		r, err := c.ExecContext(ctx, st.q)
		if err != nil {
			return res, fmt.Errorf("seed load: %s: %w", st.what, err)
		}
		if st.n != nil {
			*st.n, _ = r.RowsAffected()
		}
	}
	spans := make([]Span, len(windows))
	for i, w := range windows {
		spans[i] = Span{Start: w.Start, End: w.End}
	}
	if res.Stored, err = countByBurnTime(ctx, c, spans); err != nil {
		return res, fmt.Errorf("seed load: %w", err)
	}
	res.Verified = make([]bool, len(windows))
	for i := 0; i < len(windows); i += 500 {
		part := windows[i:min(i+500, len(windows))]
		var sb strings.Builder
		args := make([]any, 0, len(part)*9)
		sb.WriteString(`INSERT OR REPLACE INTO windows (window_id, start_time, end_time, source, attempt, api_total, stored_rows, verified, final, verified_at, updated_at) VALUES `)
		for k, w := range part {
			ok := res.Stored[i+k] == w.SeedCount
			res.Verified[i+k] = ok
			var at any
			if ok {
				at = time.Now().UTC()
			}
			if k > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())")
			args = append(args, w.ID, w.Start, w.End, source, w.Attempt, w.SeedCount, res.Stored[i+k], ok, ok, at)
		}
		if _, err := c.ExecContext(ctx, sb.String(), args...); err != nil {
			return res, fmt.Errorf("seed load: record windows: %w", err)
		}
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		return res, fmt.Errorf("seed load: commit: %w", err)
	}
	committed = true
	return res, nil
}
