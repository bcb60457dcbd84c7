package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/chain"
)

// SegmentRun is a run of consecutive pages of one walk read from the raw
// cache: the rows they kept, in walk order, and the segment's state after
// the last of them. Before is how far down the segment was reconciled
// before the first.
type SegmentRun struct {
	Segment Segment
	Before  int64
	Txs     []chain.Tx
}

// segmentStage is the staging table of CommitSegmentRuns.
const segmentStage = "segment_stage"

// CommitSegmentRuns commits runs of cached pages, of one segment or of
// many, in one transaction. It is CommitSegmentPages for pages read from
// the raw cache, without per-row bookkeeping: the rows go through a row
// feed, stored rows of the heights each run passed, (Reconciled, Before]
// at or above Lo, that neither the runs nor earlier pages of the attempt
// saw are deleted, and only the rows of the height a walk stands on are
// recorded as seen, for the pages after it. Runs of one segment must come
// in walk order; a tx_id seen twice keeps its last copy.
//
// When no row is stored in the runs' segments (a rebuild), the rows are
// fed straight into transactions: no staging table, no upsert, nothing to
// reconcile. A tx_id already stored elsewhere then fails the insert, and
// the runs are written again through a staging table.
func (s *Store) CommitSegmentRuns(ctx context.Context, runs []SegmentRun) (written int, deleted int64, err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	runs = mergeRuns(runs)
	if len(runs) == 0 {
		return 0, 0, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("commit segment runs: %w", err)
	}
	defer conn.Close()
	rows := uniqueRows(runs)
	empty, err := segmentsEmpty(ctx, conn, runs)
	if err != nil {
		return 0, 0, fmt.Errorf("commit segment runs: %w", err)
	}
	if empty {
		err := s.commitRunsDirect(ctx, conn, runs, rows)
		if err == nil {
			return len(rows), 0, nil
		}
		if !isKeyConflict(err) {
			return 0, 0, fmt.Errorf("commit segment runs: %w", err)
		}
		// A tx_id is stored at another height: stage and upsert.
	}
	deleted, err = s.commitRunsStaged(ctx, conn, runs, rows)
	if err != nil {
		return 0, 0, fmt.Errorf("commit segment runs: %w", err)
	}
	return len(rows), deleted, nil
}

// mergeRuns joins the runs of each segment into one (its first Before, its
// last state, their rows in order), so that each segment is reconciled and
// recorded once.
func mergeRuns(runs []SegmentRun) []SegmentRun {
	at := map[int64]int{}
	var out []SegmentRun
	for _, r := range runs {
		i, ok := at[r.Segment.ID]
		if !ok {
			at[r.Segment.ID] = len(out)
			out = append(out, SegmentRun{Segment: r.Segment, Before: r.Before, Txs: append([]chain.Tx(nil), r.Txs...)})
			continue
		}
		out[i].Segment = r.Segment
		out[i].Txs = append(out[i].Txs, r.Txs...)
	}
	return out
}

// uniqueRows is the runs' rows with each tx_id once, its last copy.
func uniqueRows(runs []SegmentRun) []chain.Tx {
	n := 0
	for _, r := range runs {
		n += len(r.Txs)
	}
	latest := make(map[string][2]int, n)
	for i, r := range runs {
		for k, t := range r.Txs {
			latest[t.TxID] = [2]int{i, k}
		}
	}
	out := make([]chain.Tx, 0, len(latest))
	for i, r := range runs {
		for k, t := range r.Txs {
			if latest[t.TxID] == [2]int{i, k} {
				out = append(out, t)
			}
		}
	}
	return out
}

// segmentsEmpty tells whether no row is stored in the heights of the runs'
// segments: then there is nothing to reconcile, and the runs' rows can only
// collide with a row stored at another height.
func segmentsEmpty(ctx context.Context, conn *sql.Conn, runs []SegmentRun) (bool, error) {
	var where []string
	args := make([]any, 0, 2*len(runs))
	for _, r := range runs {
		g := r.Segment
		if g.Open {
			where = append(where, "block_height >= ?")
			args = append(args, g.Lo)
			continue
		}
		where = append(where, "block_height BETWEEN ? AND ?")
		args = append(args, g.Lo, g.Hi)
	}
	var found bool
	err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM transactions WHERE `+strings.Join(where, " OR ")+`)`, args...).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("look for stored rows: %w", err)
	}
	return !found, nil
}

// commitRunsDirect writes the runs into segments that hold no row: the
// rows straight into transactions, the seen ids of the heights the walks
// stand on, and the segments' states, in one transaction.
func (s *Store) commitRunsDirect(ctx context.Context, conn *sql.Conn, runs []SegmentRun, rows []chain.Tx) error {
	tx, err := beginOn(ctx, conn)
	if err != nil {
		return err
	}
	defer tx.rollback()
	if _, err := s.feedRows(ctx, conn, "transactions", func(put func([]chain.Tx) error) error { return put(rows) }); err != nil {
		return fmt.Errorf("write rows: %w", err)
	}
	err = conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppender(dc.(driver.Conn), "", "", "segment_seen")
		if err != nil {
			return err
		}
		for _, r := range runs {
			g := r.Segment
			if g.Done {
				continue
			}
			for _, t := range r.Txs {
				if t.BlockHeight <= g.Reconciled {
					if err := app.AppendRow(g.ID, int32(g.Attempt), t.BlockHeight, t.TxID); err != nil {
						app.Close()
						return err
					}
				}
			}
		}
		return app.Close()
	})
	if err != nil {
		return fmt.Errorf("record the rows of the heights the walks stand on: %w", err)
	}
	if err := s.finishRuns(ctx, conn, runs); err != nil {
		return err
	}
	return tx.commit()
}

// commitRunsStaged writes the runs through a staging table: stored rows of
// the heights passed that nobody saw are deleted, rows already stored are
// upserted (slow in DuckDB, so only those) and the rest inserted. It
// returns the rows deleted.
func (s *Store) commitRunsStaged(ctx context.Context, conn *sql.Conn, runs []SegmentRun, rows []chain.Tx) (deleted int64, err error) {
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE `+segmentStage+` AS SELECT * FROM transactions LIMIT 0`); err != nil {
		return 0, fmt.Errorf("staging table: %w", err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+segmentStage) }()
	if _, err := s.feedRows(ctx, conn, segmentStage, func(put func([]chain.Tx) error) error { return put(rows) }); err != nil {
		return 0, fmt.Errorf("stage: %w", err)
	}
	tx, err := beginOn(ctx, conn)
	if err != nil {
		return 0, err
	}
	defer tx.rollback()
	for _, r := range runs {
		g := r.Segment
		if g.Reconciled >= r.Before {
			continue
		}
		res, err := conn.ExecContext(ctx, `
DELETE FROM transactions
WHERE block_height > ? AND block_height <= ? AND block_height >= ?
  AND tx_id NOT IN (SELECT tx_id FROM `+segmentStage+`)
  AND tx_id NOT IN (SELECT tx_id FROM segment_seen WHERE segment_id = ? AND attempt = ?)`,
			g.Reconciled, r.Before, g.Lo, g.ID, g.Attempt)
		if err != nil {
			return 0, fmt.Errorf("segment %d: remove rows that left the chain: %w", g.ID, err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	for _, st := range []struct{ what, q string }{
		{"replace rows already stored", `INSERT OR REPLACE INTO transactions
SELECT * FROM ` + segmentStage + ` WHERE tx_id IN (SELECT tx_id FROM transactions)`},
		{"write new rows", `INSERT INTO transactions
SELECT * FROM ` + segmentStage + ` WHERE tx_id NOT IN (SELECT tx_id FROM transactions)`},
	} {
		if _, err := conn.ExecContext(ctx, st.q); err != nil {
			return 0, fmt.Errorf("%s: %w", st.what, err)
		}
	}
	for _, r := range runs {
		g := r.Segment
		if _, err := conn.ExecContext(ctx, `INSERT INTO segment_seen
SELECT ?, ?, block_height, tx_id FROM `+segmentStage+` WHERE block_height BETWEEN ? AND ? AND NOT ?`,
			g.ID, int32(g.Attempt), g.Lo, g.Reconciled, g.Done); err != nil {
			return 0, fmt.Errorf("segment %d: record the rows of the height the walk stands on: %w", g.ID, err)
		}
	}
	if err := s.finishRuns(ctx, conn, runs); err != nil {
		return 0, err
	}
	if err := tx.commit(); err != nil {
		return 0, err
	}
	return deleted, nil
}

// finishRuns forgets the seen ids the walks no longer need (those of the
// heights passed below, all of a finished walk's), writes each segment's
// new state and counts the version.
func (s *Store) finishRuns(ctx context.Context, conn *sql.Conn, runs []SegmentRun) error {
	for _, r := range runs {
		g := r.Segment
		if _, err := conn.ExecContext(ctx, `DELETE FROM segment_seen WHERE segment_id = ? AND (block_height > ? OR ?)`,
			g.ID, g.Reconciled, g.Done); err != nil {
			return fmt.Errorf("segment %d: forget seen rows: %w", g.ID, err)
		}
		if err := updateSegment(ctx, conn, g); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, bumpVersion); err != nil {
		return fmt.Errorf("count the version: %w", err)
	}
	return nil
}
