package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

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

// CommitSegmentRuns commits runs of cached pages, of one segment or of
// many, in one transaction. It is CommitSegmentPages for pages read from
// the raw cache, without per-row bookkeeping: the rows go through a row
// feed (each tx_id once, its last copy, in place of any stored copy),
// stored rows of the heights each run passed, (Reconciled, Before] at or
// above Lo, that neither the runs nor earlier pages of the attempt saw are
// deleted, and only the rows of the height a walk stands on are recorded
// as seen, for the pages after it. Runs of one segment must come in walk
// order.
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
	if deleted, err = s.commitRuns(ctx, conn, runs, rows); err != nil {
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

// commitRuns writes the runs in one transaction. The stored copies of
// their rows go first, so that the deletion of the rows nobody saw in the
// heights passed, which runs next, finds none of the runs' rows; then the
// rows, the seen ids of the heights the walks stand on, and the segments'
// states. It returns the rows deleted as gone from the chain.
func (s *Store) commitRuns(ctx context.Context, conn *sql.Conn, runs []SegmentRun, rows []chain.Tx) (deleted int64, err error) {
	tx, err := beginOn(ctx, conn)
	if err != nil {
		return 0, err
	}
	defer tx.rollback()
	if err := s.replaceStored(ctx, conn, rows); err != nil {
		return 0, err
	}
	for _, r := range runs {
		g := r.Segment
		if g.Reconciled >= r.Before {
			continue
		}
		res, err := conn.ExecContext(ctx, `
DELETE FROM transactions
WHERE block_height > ? AND block_height <= ? AND block_height >= ?
  AND tx_id NOT IN (SELECT tx_id FROM segment_seen WHERE segment_id = ? AND attempt = ?)`,
			g.Reconciled, r.Before, g.Lo, g.ID, g.Attempt)
		if err != nil {
			return 0, fmt.Errorf("segment %d: remove rows that left the chain: %w", g.ID, err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	if _, _, err := s.feedRows(ctx, conn, "transactions", func(put func([]chain.Tx) error) error { return put(rows) }); err != nil {
		return 0, fmt.Errorf("write rows: %w", err)
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
		return 0, fmt.Errorf("record the rows of the heights the walks stand on: %w", err)
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
