package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/chain"
)

// SeedLoad stages a seed's rows with the Appender into a table of their
// own, then commits whole windows in one set-based transaction: a bulk load
// is bound by DuckDB, not by per-page bookkeeping. Until Finish, nothing of
// the load is visible; a killed load leaves only the staging table, which
// the next load replaces.
type SeedLoad struct {
	s    *Store
	conn *sql.Conn
	app  *duckdb.Appender
	rows int64
}

// seedStage is the staging table of a seed load.
const seedStage = "seed_stage"

// BeginSeedLoad starts a seed load. The caller must Finish or Abort it.
func (s *Store) BeginSeedLoad(ctx context.Context) (l *SeedLoad, err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		s.writeMu.Unlock()
		return nil, fmt.Errorf("seed load: %w", err)
	}
	l = &SeedLoad{s: s, conn: conn}
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TABLE `+seedStage+` AS SELECT * FROM transactions LIMIT 0`); err != nil {
		l.release()
		return nil, fmt.Errorf("seed load: staging table: %w", err)
	}
	err = conn.Raw(func(dc any) error {
		var err error
		l.app, err = duckdb.NewAppender(dc.(driver.Conn), "", "", seedStage)
		return err
	})
	if err != nil {
		l.release()
		return nil, fmt.Errorf("seed load: %w", err)
	}
	return l, nil
}

func (l *SeedLoad) release() {
	l.conn.Close()
	l.s.writeMu.Unlock()
}

// Append stages rows.
func (l *SeedLoad) Append(txs []chain.Tx) error {
	for _, t := range txs {
		if err := appendTx(l.app, t); err != nil {
			err = fmt.Errorf("seed load: stage %s: %w", t.TxID, err)
			diskFull(&err)
			return err
		}
	}
	l.rows += int64(len(txs))
	return nil
}

// Abort drops what was staged.
func (l *SeedLoad) Abort() {
	if l.app != nil {
		_ = l.app.Close()
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
// deleted, the staged rows are upserted, and every window is recorded as
// final and verified when what is stored equals the seed's count (else as
// unverified, for the API to fetch).
func (l *SeedLoad) Finish(ctx context.Context, source string, windows []SeedWindow) (res SeedResult, err error) {
	defer diskFull(&err)
	defer l.release()
	if err := l.app.Close(); err != nil {
		return res, fmt.Errorf("seed load: stage rows: %w", err)
	}
	l.app = nil
	c := l.conn
	if _, err := c.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return res, fmt.Errorf("seed load: %w", err)
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
		{"write rows", `INSERT OR REPLACE INTO transactions SELECT DISTINCT ON (tx_id) * FROM ` + seedStage, &res.Rows},
		{"forget page bookkeeping", `DELETE FROM window_pages WHERE window_id IN (SELECT window_id FROM seed_windows)`, nil},
		{"forget seen rows", `DELETE FROM window_seen WHERE window_id IN (SELECT window_id FROM seed_windows)`, nil},
		{"record windows", `
INSERT OR REPLACE INTO windows (window_id, start_time, end_time, source, attempt, api_total, stored_rows, verified, final, verified_at, updated_at)
SELECT window_id, start_time, end_time, ?, attempt, seed_count, n, n = seed_count, n = seed_count,
       CASE WHEN n = seed_count THEN now() END, now()
FROM (SELECT w.window_id, w.attempt, w.start_time, w.end_time, w.seed_count, count(t.tx_id) AS n
      FROM seed_windows w LEFT JOIN transactions t
        ON t.burn_block_time BETWEEN to_timestamp(w.start_time) AND to_timestamp(w.end_time)
      GROUP BY w.window_id, w.attempt, w.start_time, w.end_time, w.seed_count)`, nil},
		{"count the version", bumpVersion, nil},
	}
	for _, st := range steps {
		var args []any
		if st.what == "record windows" {
			args = []any{source}
		}
		r, err := c.ExecContext(ctx, st.q, args...)
		if err != nil {
			return res, fmt.Errorf("seed load: %s: %w", st.what, err)
		}
		if st.n != nil {
			*st.n, _ = r.RowsAffected()
		}
	}
	rows, err := c.QueryContext(ctx, `SELECT w.window_id, coalesce(stored_rows, 0), verified FROM seed_windows w JOIN windows USING (window_id)`)
	if err != nil {
		return res, fmt.Errorf("seed load: read windows: %w", err)
	}
	byID := map[int64]int{}
	for i, w := range windows {
		byID[w.ID] = i
	}
	res.Stored, res.Verified = make([]int64, len(windows)), make([]bool, len(windows))
	for rows.Next() {
		var id, stored int64
		var ok bool
		if err := rows.Scan(&id, &stored, &ok); err != nil {
			rows.Close()
			return res, fmt.Errorf("seed load: read windows: %w", err)
		}
		res.Stored[byID[id]], res.Verified[byID[id]] = stored, ok
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return res, fmt.Errorf("seed load: read windows: %w", err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		return res, fmt.Errorf("seed load: commit: %w", err)
	}
	committed = true
	return res, nil
}
