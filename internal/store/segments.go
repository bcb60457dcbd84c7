package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// OpenTop is the Reconciled value of an open segment that has not committed
// a page: every height above it is still to be reconciled.
const OpenTop = math.MaxInt64

// Segment is one unit of work of the v3 cursor source: the Stacks block
// heights [Lo, Hi] (or [Lo, ∞) when Open), walked downward from the top
// of Hi (or from the chain tip) along the keyset cursor until the walk
// passes below Lo.
type Segment struct {
	ID, RunID int64
	Lo, Hi    int64 // Hi is meaningless when Open
	Open      bool
	// Final is true when every row the segment owns was final (older than
	// the settle margin) when it was planned: such a segment stays valid
	// across runs and its pages may come from the raw cache.
	Final      bool
	Started    bool
	NextCursor string // where the walk continues; "" before the first page
	TopHeight  int64  // the height the walk started at (the tip, for an open segment)
	// Reconciled: the walk has passed below every height above this (and at
	// or above Lo); stored rows there that it did not see were deleted.
	Reconciled int64
	Done       bool
	Bottom     bool // the walk reached the chain's first transaction: nothing exists below Lo
	Attempt    int
	Pages      int64
	Rows       int64
	// MinBurn and MaxBurn are the burn_block_time range (unix seconds) of
	// the rows kept so far; meaningful when HasRows.
	MinBurn, MaxBurn int64
	HasRows          bool
}

// Contains reports whether height h belongs to the segment.
func (s Segment) Contains(h int64) bool { return h >= s.Lo && (s.Open || h <= s.Hi) }

// Segments lists every segment, lowest heights first.
func (s *Store) Segments(ctx context.Context) ([]Segment, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT segment_id, run_id, lo, coalesce(hi, -1), hi IS NULL, final, started, coalesce(next_cursor, ''),
       coalesce(top_height, -1), reconciled, done, bottom, attempt, pages, rows,
       coalesce(min_burn, 0), coalesce(max_burn, 0), min_burn IS NOT NULL
FROM segments ORDER BY lo, segment_id`)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		var g Segment
		if err := rows.Scan(&g.ID, &g.RunID, &g.Lo, &g.Hi, &g.Open, &g.Final, &g.Started, &g.NextCursor,
			&g.TopHeight, &g.Reconciled, &g.Done, &g.Bottom, &g.Attempt, &g.Pages, &g.Rows,
			&g.MinBurn, &g.MaxBurn, &g.HasRows); err != nil {
			return nil, fmt.Errorf("list segments: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// NextSegmentID returns an unused segment id.
func (s *Store) NextSegmentID(ctx context.Context) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(segment_id), 0) + 1 FROM segments`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("next segment id: %w", err)
	}
	return id, nil
}

// SaveSegments applies a plan in one transaction: it forgets the segments
// in drop (their rows stay: whatever next walks their heights reconciles
// them) and writes put (new segments, or new states of existing ones).
func (s *Store) SaveSegments(ctx context.Context, put []Segment, drop []int64) (err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if len(put) == 0 && len(drop) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save segments: %w", err)
	}
	defer tx.Rollback()
	for _, id := range drop {
		for _, q := range []string{`DELETE FROM segment_seen WHERE segment_id = ?`, `DELETE FROM segments WHERE segment_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("drop segment %d: %w", id, err)
			}
		}
	}
	for _, g := range put {
		if err := writeSegment(ctx, tx, g); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save segments: %w", err)
	}
	return nil
}

// execer is a connection or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writeSegment saves a segment whole, creating or replacing its row.
func writeSegment(ctx context.Context, ex execer, g Segment) error {
	hi, next, top, minB, maxB := segmentNullables(g)
	_, err := ex.ExecContext(ctx, `
INSERT OR REPLACE INTO segments (segment_id, run_id, source, lo, hi, final, started, next_cursor, top_height, reconciled,
                                 done, bottom, attempt, pages, rows, min_burn, max_burn, updated_at)
VALUES (?, ?, 'v3', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())`,
		g.ID, g.RunID, g.Lo, hi, g.Final, g.Started, next, top, g.Reconciled, g.Done, g.Bottom, g.Attempt,
		g.Pages, g.Rows, minB, maxB)
	if err != nil {
		return fmt.Errorf("write segment %d: %w", g.ID, err)
	}
	return nil
}

// updateSegment writes the walk state of a segment already saved. An
// UPDATE in place costs DuckDB a fraction of the delete and insert that
// INSERT OR REPLACE makes on a keyed table, and it runs once a segment in
// every commit of a walk.
func updateSegment(ctx context.Context, ex execer, g Segment) error {
	hi, next, top, minB, maxB := segmentNullables(g)
	res, err := ex.ExecContext(ctx, `
UPDATE segments SET run_id = ?, lo = ?, hi = ?, final = ?, started = ?, next_cursor = ?, top_height = ?, reconciled = ?,
                    done = ?, bottom = ?, attempt = ?, pages = ?, rows = ?, min_burn = ?, max_burn = ?, updated_at = now()
WHERE segment_id = ?`,
		g.RunID, g.Lo, hi, g.Final, g.Started, next, top, g.Reconciled, g.Done, g.Bottom, g.Attempt,
		g.Pages, g.Rows, minB, maxB, g.ID)
	if err != nil {
		return fmt.Errorf("write segment %d: %w", g.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n != 1 {
		return fmt.Errorf("write segment %d: it is not saved (%d rows)", g.ID, n)
	}
	return nil
}

// segmentNullables is a segment's columns that are NULL when unset.
func segmentNullables(g Segment) (hi, next, top, minB, maxB any) {
	if !g.Open {
		hi = g.Hi
	}
	if g.NextCursor != "" {
		next = g.NextCursor
	}
	if g.Started {
		top = g.TopHeight
	}
	if g.HasRows {
		minB, maxB = g.MinBurn, g.MaxBurn
	}
	return hi, next, top, minB, maxB
}

// SegmentPage is one fetched v3 page ready to commit: the rows the segment
// owns and the segment's state after the page (its next cursor, counters,
// and how far down it is reconciled).
type SegmentPage struct {
	Segment Segment
	Txs     []chain.Tx
}

// CommitSegmentPages writes pages in one transaction: their rows (each
// tx_id once, in place of any stored copy), the tx_ids each segment has
// seen, each segment's new state, and the reconciliation of the heights
// the walk passed below: stored rows there that the segment did not see
// have left the canonical chain and are deleted. Either all of it lands or
// none, so a segment resumes from its next cursor exactly. It returns the
// rows written and deleted.
func (s *Store) CommitSegmentPages(ctx context.Context, pages []SegmentPage) (rows int, deleted int64, err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if len(pages) == 0 {
		return 0, 0, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("commit segment pages: %w", err)
	}
	defer conn.Close()
	tx, err := beginOn(ctx, conn)
	if err != nil {
		return 0, 0, fmt.Errorf("commit segment pages: %w", err)
	}
	defer tx.rollback()

	// The reconciled mark each segment had before this batch.
	before := map[int64]int64{}
	var order []int64
	last := map[int64]Segment{}
	for _, p := range pages {
		id := p.Segment.ID
		if _, ok := last[id]; !ok {
			var rec int64
			if err := conn.QueryRowContext(ctx, `SELECT reconciled FROM segments WHERE segment_id = ?`, id).Scan(&rec); err != nil {
				return 0, 0, fmt.Errorf("commit segment pages: segment %d: %w", id, err)
			}
			before[id] = rec
			order = append(order, id)
		}
		last[id] = p.Segment
	}

	seen := make([]seenTx, 0, len(pages)*50)
	for _, p := range pages {
		g := p.Segment
		for _, t := range p.Txs {
			seen = append(seen, seenTx{t, []driver.Value{g.ID, int32(g.Attempt), t.BlockHeight, t.TxID}})
		}
	}
	if rows, err = s.writeSeen(ctx, conn, "segment_seen", seen); err != nil {
		return 0, 0, fmt.Errorf("commit segment pages: %w", err)
	}

	for _, id := range order {
		g := last[id]
		if err := updateSegment(ctx, conn, g); err != nil {
			return 0, 0, fmt.Errorf("commit segment pages: %w", err)
		}
		from, to := g.Reconciled, before[id] // heights in (from, to], at or above Lo
		if from < to {
			res, err := conn.ExecContext(ctx, `
DELETE FROM transactions
WHERE block_height > ? AND block_height <= ? AND block_height >= ?
  AND tx_id NOT IN (SELECT tx_id FROM segment_seen WHERE segment_id = ? AND attempt = ?)`,
				from, to, g.Lo, g.ID, g.Attempt)
			if err != nil {
				return 0, 0, fmt.Errorf("commit segment pages: segment %d: remove rows that left the chain: %w", id, err)
			}
			n, _ := res.RowsAffected()
			deleted += n
			// Seen ids of heights passed below are no longer needed.
			if _, err := conn.ExecContext(ctx, `DELETE FROM segment_seen WHERE segment_id = ? AND block_height > ?`, id, from); err != nil {
				return 0, 0, fmt.Errorf("commit segment pages: segment %d: %w", id, err)
			}
		}
		if g.Done {
			if _, err := conn.ExecContext(ctx, `DELETE FROM segment_seen WHERE segment_id = ?`, id); err != nil {
				return 0, 0, fmt.Errorf("commit segment pages: segment %d: %w", id, err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, bumpVersion); err != nil {
		return 0, 0, fmt.Errorf("commit segment pages: %w", err)
	}
	if err := tx.commit(); err != nil {
		return 0, 0, fmt.Errorf("commit segment pages: %w", err)
	}
	return rows, deleted, nil
}

// ProvenSpan is a span of burn_block_time that an unbroken cursor walk over
// the block heights [Lo, Hi] proved complete: every canonical transaction
// with a burn time in the span lies in those heights.
type ProvenSpan struct {
	Span
	Lo, Hi int64
}

// RecordWindows records proven spans as verified, final windows of source,
// each with api_total = stored_rows = the rows stored in it, and forgets
// the window records in drop (unverified or provisional ones the spans
// replace), in one transaction. A stored row in a span but outside the
// heights that prove it cannot be canonical and is deleted first; it
// returns how many were. The caller cuts the spans so that they overlap no
// window that is kept.
func (s *Store) RecordWindows(ctx context.Context, source string, proven []ProvenSpan, drop []Window) (deleted int64, err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if len(proven) == 0 && len(drop) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("record windows: %w", err)
	}
	defer tx.Rollback()
	for _, w := range drop {
		for _, q := range []string{`DELETE FROM window_pages WHERE window_id = ?`, `DELETE FROM window_seen WHERE window_id = ?`, `DELETE FROM windows WHERE window_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, w.ID); err != nil {
				return 0, fmt.Errorf("record windows: drop window %d: %w", w.ID, err)
			}
		}
	}
	spans := make([]Span, len(proven))
	for i, p := range proven {
		spans[i] = p.Span
		res, err := tx.ExecContext(ctx, `
DELETE FROM transactions
WHERE burn_block_time BETWEEN to_timestamp(?) AND to_timestamp(?) AND (block_height < ? OR block_height > ?)`,
			p.Start, p.End, p.Lo, p.Hi)
		if err != nil {
			return 0, fmt.Errorf("record windows: remove rows outside the proving walk: %w", err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	if len(spans) > 0 {
		counts, err := countByBurnTime(ctx, tx, spans)
		if err != nil {
			return 0, err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(window_id), 0) + 1 FROM windows`).Scan(&id); err != nil {
			return 0, fmt.Errorf("record windows: %w", err)
		}
		now := time.Now().UTC()
		for i, sp := range spans {
			if _, err := tx.ExecContext(ctx, `
INSERT INTO windows (window_id, start_time, end_time, source, attempt, api_total, stored_rows, verified, final, verified_at, updated_at)
VALUES (?, ?, ?, ?, 1, ?, ?, true, true, ?, ?)`, id, sp.Start, sp.End, source, counts[i], counts[i], now, now); err != nil {
				return 0, fmt.Errorf("record windows: %w", err)
			}
			id++
		}
	}
	if deleted > 0 {
		if _, err := tx.ExecContext(ctx, bumpVersion); err != nil {
			return 0, fmt.Errorf("record windows: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record windows: commit: %w", err)
	}
	return deleted, nil
}

// countByBurnTime counts stored rows in each span with one scan: rows of a
// tenure share one burn_block_time, so grouping by it gives a small table
// (one entry per Bitcoin block) that the spans are summed from.
func countByBurnTime(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, spans []Span) ([]int64, error) {
	lo, hi := spans[0].Start, spans[0].End
	for _, sp := range spans {
		lo, hi = min(lo, sp.Start), max(hi, sp.End)
	}
	rows, err := q.QueryContext(ctx, `
SELECT epoch(burn_block_time)::BIGINT AS t, count(*) FROM transactions
WHERE burn_block_time BETWEEN to_timestamp(?) AND to_timestamp(?) GROUP BY 1 ORDER BY 1`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("count rows by burn time: %w", err)
	}
	defer rows.Close()
	var times, ns []int64
	for rows.Next() {
		var t, n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, fmt.Errorf("count rows by burn time: %w", err)
		}
		times, ns = append(times, t), append(ns, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count rows by burn time: %w", err)
	}
	prefix := make([]int64, len(ns)+1) // prefix[i] = rows at times[:i]
	for i, n := range ns {
		prefix[i+1] = prefix[i] + n
	}
	out := make([]int64, len(spans))
	for i, sp := range spans {
		a := sort.Search(len(times), func(k int) bool { return times[k] >= sp.Start })
		b := sort.Search(len(times), func(k int) bool { return times[k] > sp.End })
		out[i] = prefix[b] - prefix[a]
	}
	return out, nil
}
