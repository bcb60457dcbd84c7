package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Window is the bookkeeping of one closed range of burn_block_time (unix
// seconds, both ends inclusive).
type Window struct {
	ID         int64
	Start, End int64
	Source     string
	Attempt    int
	APITotal   int64 // -1 until the API has said
	StoredRows int64 // -1 until verified
	Verified   bool
	Final      bool
	VerifiedAt time.Time
}

// Covered reports whether the window counts toward coverage.
func (w Window) Covered() bool { return w.Verified && w.Final }

// Windows lists every window, oldest first.
func (s *Store) Windows(ctx context.Context) ([]Window, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT window_id, start_time, end_time, source, attempt, coalesce(api_total, -1), coalesce(stored_rows, -1),
       verified, final, coalesce(verified_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')
FROM windows ORDER BY start_time`)
	if err != nil {
		return nil, fmt.Errorf("list windows: %w", err)
	}
	defer rows.Close()
	var out []Window
	for rows.Next() {
		var w Window
		if err := rows.Scan(&w.ID, &w.Start, &w.End, &w.Source, &w.Attempt, &w.APITotal, &w.StoredRows, &w.Verified, &w.Final, &w.VerifiedAt); err != nil {
			return nil, fmt.Errorf("list windows: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DriftedWindows are the covered windows of the given sources whose spans
// no longer hold the rows they were verified with, and what each holds
// now. Final history does not move, so a drift is a row written since
// with the same tx_id for another window (which replaced it), or one
// deleted or added behind the backfill's back. One grouped scan of the
// burn times counts every span.
func (s *Store) DriftedWindows(ctx context.Context, sources ...string) (drifted []Window, now []int64, err error) {
	ws, err := s.Windows(ctx)
	if err != nil {
		return nil, nil, err
	}
	var check []Window
	var spans []Span
	for _, w := range ws {
		if w.Covered() && w.StoredRows >= 0 && slices.Contains(sources, w.Source) {
			check = append(check, w)
			spans = append(spans, Span{Start: w.Start, End: w.End})
		}
	}
	if len(check) == 0 {
		return nil, nil, nil
	}
	counts, err := countByBurnTime(ctx, s.db, spans)
	if err != nil {
		return nil, nil, err
	}
	for i, w := range check {
		if counts[i] != w.StoredRows {
			drifted, now = append(drifted, w), append(now, counts[i])
		}
	}
	return drifted, now, nil
}

// NextWindowID returns an unused window id.
func (s *Store) NextWindowID(ctx context.Context) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(window_id), 0) + 1 FROM windows`).Scan(&id)
	return id, err
}

// BeginAttempt records a window (new, or existing with a fresh attempt) as
// being fetched: it is no longer verified, and what earlier attempts
// committed page by page is forgotten. Rows stay until the attempt finishes.
func (s *Store) BeginAttempt(ctx context.Context, w Window) error {
	_, err := s.CommitWindowOps(ctx, []WindowOp{{Begin: &w}})
	return err
}

// DonePages returns the offsets the window's current attempt has committed,
// with the total the API reported on each.
func (s *Store) DonePages(ctx context.Context, windowID int64, attempt int) (map[int64]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT page_offset, api_total FROM window_pages WHERE window_id = ? AND attempt = ?`, windowID, attempt)
	if err != nil {
		return nil, fmt.Errorf("pages of window %d: %w", windowID, err)
	}
	defer rows.Close()
	done := map[int64]int64{}
	for rows.Next() {
		var off, total int64
		if err := rows.Scan(&off, &total); err != nil {
			return nil, err
		}
		done[off] = total
	}
	return done, rows.Err()
}

// Page is one fetched page ready to commit.
type Page struct {
	WindowID int64
	Attempt  int
	Offset   int64
	APITotal int64
	Txs      []chain.Tx
}

// CommitPages writes pages in one transaction: their rows (each tx_id once:
// a row already stored replaces its stored copy, so a page seen twice never
// doubles a row), the tx_ids each window's attempt has seen, and the page
// bookkeeping. Either all of it lands or none.
func (s *Store) CommitPages(ctx context.Context, pages []Page) (rows int, err error) {
	ops := make([]WindowOp, len(pages))
	for i := range pages {
		ops[i].Page = &pages[i]
	}
	return s.CommitWindowOps(ctx, ops)
}

// WindowOp is one step of a v1 window's bookkeeping: exactly one of Begin
// (BeginAttempt), Page (CommitPages) and Finish (FinishAttempt) is set.
type WindowOp struct {
	Begin  *Window
	Page   *Page
	Finish *FinishOp
}

// FinishOp closes a window's attempt; CommitWindowOps fills Result.
type FinishOp struct {
	Window   Window
	APITotal int64
	Final    bool
	Result   Finish
}

// CommitWindowOps runs ops in order in one transaction: the beginnings,
// pages and ends of the windows' attempts of a batch land together or not
// at all. A write transaction costs a few milliseconds to commit whatever
// it holds, so the committer of a run gives every window's bookkeeping to
// the batch its pages go in, instead of a transaction of its own. It
// returns the rows written.
func (s *Store) CommitWindowOps(ctx context.Context, ops []WindowOp) (rows int, err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if len(ops) == 0 {
		return 0, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("commit windows: %w", err)
	}
	defer conn.Close()
	tx, err := beginOn(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("commit windows: %w", err)
	}
	defer tx.rollback()
	changed := false // rows written or deleted: the data version moves
	var pages []*Page
	flush := func() error {
		if len(pages) == 0 {
			return nil
		}
		n, err := s.commitPages(ctx, conn, pages)
		pages = pages[:0]
		rows += n
		changed = true
		return err
	}
	for _, op := range ops {
		switch {
		case op.Page != nil:
			pages = append(pages, op.Page)
			continue
		case op.Begin != nil:
			err = flush()
			if err == nil {
				err = beginAttempt(ctx, conn, *op.Begin)
			}
		case op.Finish != nil:
			err = flush()
			if err == nil {
				op.Finish.Result, err = finishAttempt(ctx, conn, op.Finish.Window, op.Finish.APITotal, op.Finish.Final)
				changed = changed || op.Finish.Result.Deleted > 0
			}
		}
		if err != nil {
			return 0, err
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if changed {
		if _, err := conn.ExecContext(ctx, bumpVersion); err != nil {
			return 0, fmt.Errorf("commit windows: %w", err)
		}
	}
	if err := tx.commit(); err != nil {
		return 0, fmt.Errorf("commit windows: %w", err)
	}
	return rows, nil
}

// beginAttempt is BeginAttempt inside the transaction of conn.
func beginAttempt(ctx context.Context, conn *sql.Conn, w Window) error {
	stmts := []struct {
		q    string
		args []any
	}{
		{`DELETE FROM window_pages WHERE window_id = ?`, []any{w.ID}},
		{`DELETE FROM window_seen WHERE window_id = ?`, []any{w.ID}},
		{`INSERT OR REPLACE INTO windows (window_id, start_time, end_time, source, attempt, api_total, stored_rows, verified, final, verified_at, updated_at)
		  VALUES (?, ?, ?, ?, ?, NULL, NULL, false, ?, NULL, now())`, []any{w.ID, w.Start, w.End, w.Source, w.Attempt, w.Final}},
	}
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st.q, st.args...); err != nil {
			return fmt.Errorf("begin window %d: %w", w.ID, err)
		}
	}
	return nil
}

// commitPages is CommitPages inside the transaction of conn, without the
// data version. A page's record replaces one of the same offset: an
// attempt commits each offset once, unless a window's pages shifted under
// it.
func (s *Store) commitPages(ctx context.Context, conn *sql.Conn, pages []*Page) (rows int, err error) {
	seen := make([]seenTx, 0, len(pages)*50)
	for _, p := range pages {
		for _, t := range p.Txs {
			seen = append(seen, seenTx{t, []driver.Value{p.WindowID, int32(p.Attempt), t.TxID}})
		}
	}
	if rows, err = s.writeSeen(ctx, conn, "window_seen", seen); err != nil {
		return 0, fmt.Errorf("commit pages: %w", err)
	}
	var sb strings.Builder
	args := make([]any, 0, len(pages)*5)
	sb.WriteString(`INSERT OR REPLACE INTO window_pages (window_id, attempt, page_offset, api_total, rows) VALUES `)
	for i, p := range pages {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?)")
		args = append(args, p.WindowID, p.Attempt, p.Offset, p.APITotal, len(p.Txs))
	}
	if _, err := conn.ExecContext(ctx, sb.String(), args...); err != nil {
		return 0, fmt.Errorf("commit pages: record pages: %w", err)
	}
	return rows, nil
}

// appendTx appends one row in the column order of the transactions table.
func appendTx(a *duckdb.Appender, t chain.Tx) error {
	return a.AppendRow(
		t.TxID, t.TxType, t.TxStatus, t.BlockHeight, t.BlockHash, t.BlockTime.UTC(),
		t.BurnBlockHeight, t.BurnBlockTime.UTC(), int32(t.TxIndex), t.SenderAddress, t.Nonce,
		t.FeeRate, t.Sponsored, nullString(t.SponsorAddress),
		nullString(t.TokenTransferRecipientAddress), nullAmount(t), nullString(t.TokenTransferMemo),
		nullString(t.ContractCallContractID), nullString(t.ContractCallFunctionName),
		nullString(t.SmartContractContractID), t.Canonical,
	)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullAmount(t chain.Tx) any {
	if t.TxType != "token_transfer" {
		return nil
	}
	return t.TokenTransferAmount
}

// Finish is the outcome of finishing a window's attempt.
type Finish struct {
	Stored   int64 // rows in the window after the attempt
	Deleted  int64 // rows removed because the attempt did not see them
	Verified bool  // Stored equals the API's total
}

// FinishAttempt closes a window's attempt in one transaction: rows of the
// window's range that this attempt did not see have left the canonical chain
// and are deleted; the window is verified when what is stored equals what
// the API said it holds.
func (s *Store) FinishAttempt(ctx context.Context, w Window, apiTotal int64, final bool) (Finish, error) {
	op := &FinishOp{Window: w, APITotal: apiTotal, Final: final}
	_, err := s.CommitWindowOps(ctx, []WindowOp{{Finish: op}})
	return op.Result, err
}

// finishAttempt is FinishAttempt inside the transaction of conn.
func finishAttempt(ctx context.Context, conn *sql.Conn, w Window, apiTotal int64, final bool) (Finish, error) {
	var f Finish
	res, err := conn.ExecContext(ctx, `
DELETE FROM transactions
WHERE burn_block_time BETWEEN to_timestamp(?) AND to_timestamp(?)
  AND tx_id NOT IN (SELECT tx_id FROM window_seen WHERE window_id = ? AND attempt = ?)`, w.Start, w.End, w.ID, w.Attempt)
	if err != nil {
		return Finish{}, fmt.Errorf("finish window %d: remove rows that left the chain: %w", w.ID, err)
	}
	f.Deleted, _ = res.RowsAffected()
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM transactions WHERE burn_block_time BETWEEN to_timestamp(?) AND to_timestamp(?)`, w.Start, w.End).Scan(&f.Stored); err != nil {
		return Finish{}, fmt.Errorf("finish window %d: count rows: %w", w.ID, err)
	}
	f.Verified = f.Stored == apiTotal
	var verifiedAt any
	if f.Verified {
		verifiedAt = time.Now().UTC()
	}
	if _, err := conn.ExecContext(ctx, `
UPDATE windows SET api_total = ?, stored_rows = ?, verified = ?, final = ?, verified_at = ?, updated_at = now()
WHERE window_id = ?`, apiTotal, f.Stored, f.Verified, final && f.Verified, verifiedAt, w.ID); err != nil {
		return Finish{}, fmt.Errorf("finish window %d: %w", w.ID, err)
	}
	for _, q := range []string{`DELETE FROM window_seen WHERE window_id = ?`, `DELETE FROM window_pages WHERE window_id = ?`} {
		if _, err := conn.ExecContext(ctx, q, w.ID); err != nil {
			return Finish{}, fmt.Errorf("finish window %d: %w", w.ID, err)
		}
	}
	return f, nil
}

// DropWindows forgets window records and their page bookkeeping. Rows stay:
// the window that next covers their range reconciles them.
func (s *Store) DropWindows(ctx context.Context, ws []Window) (err error) {
	defer diskFull(&err)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if len(ws) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("drop windows: %w", err)
	}
	defer tx.Rollback()
	for _, w := range ws {
		for _, q := range []string{`DELETE FROM window_pages WHERE window_id = ?`, `DELETE FROM window_seen WHERE window_id = ?`, `DELETE FROM windows WHERE window_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, w.ID); err != nil {
				return fmt.Errorf("drop window %d: %w", w.ID, err)
			}
		}
	}
	return tx.Commit()
}

// seenTx is a fetched row and the row of a *_seen table that records the
// attempt saw it.
type seenTx struct {
	tx   chain.Tx
	seen []driver.Value
}

// writeSeen writes rows into the transactions table inside conn's
// transaction, each tx_id once (the last copy winning: a batch can repeat
// a tx_id when offsets shift or a cursor walk revisits a block) and in
// place of any stored copy (replaceStored), and every row's seen record
// into seenTable, both through the Appender. It returns the number of rows
// written.
func (s *Store) writeSeen(ctx context.Context, conn *sql.Conn, seenTable string, rows []seenTx) (int, error) {
	latest := make(map[string]int, len(rows)) // tx_id -> its last copy in rows
	order := make([]string, 0, len(rows))
	for i, r := range rows {
		if _, dup := latest[r.tx.TxID]; !dup {
			order = append(order, r.tx.TxID)
		}
		latest[r.tx.TxID] = i
	}
	unique := make([]chain.Tx, len(order))
	for i, id := range order {
		unique[i] = rows[latest[id]].tx
	}
	if err := s.replaceStored(ctx, conn, unique); err != nil {
		return 0, err
	}
	err := conn.Raw(func(dc any) error {
		seenApp, err := duckdb.NewAppender(dc.(driver.Conn), "", "", seenTable)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := seenApp.AppendRow(r.seen...); err != nil {
				seenApp.Close()
				return err
			}
		}
		if err := seenApp.Close(); err != nil {
			return fmt.Errorf("record %s: %w", seenTable, err)
		}
		app, err := duckdb.NewAppender(dc.(driver.Conn), "", "", "transactions")
		if err != nil {
			return err
		}
		for _, t := range unique {
			if err := appendTx(app, t); err != nil {
				app.Close()
				return err
			}
		}
		if err := app.Close(); err != nil {
			return fmt.Errorf("write transactions: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(unique), nil
}
