package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/stxwallets/walletcache/internal/chain"
)

// The transactions table has no key (docs/design.md#database, "No key on
// tx_id"): DuckDB's index on a random 66-character key costs about 200
// bytes a row that it never evicts, so a year of rows would hold
// gigabytes. The store keeps tx_ids unique itself. Before rows are
// written, every row whose tx_id may be stored loses its stored copy
// (replaceStored); whether a tx_id may be stored is answered by keySet, an
// in-memory set of 48-bit keys of every tx_id written, 4 bytes a row.

// txIDLen is the length of a tx_id: 0x and 64 lower-case hex digits.
const txIDLen = 66

// txKeySQL is txKey in SQL, over the transactions table's tx_id column:
// for a tx_id the two agree (TestTxKeyMatchesSQL); for any other string
// the value does not matter, because txKey refuses it and every such row
// is treated as possibly stored.
const txKeySQL = `coalesce(TRY_CAST('0x' || substr(tx_id, 3, 16) AS UBIGINT), 0)`

// txKey is the 64-bit key of a tx_id: its first 16 hex digits. tx_ids are
// hashes, so the keys are uniform (keySet keeps 48 of their bits, and says
// what a shared key costs). ok is false for a string that is not 66
// characters starting with 0x and 16 lower-case hex digits (the API
// decoder and the seed reader refuse such rows; tests use short names):
// such a row may always be stored.
//
// Only the digits the key is made of are checked: the SQL reads no others,
// and a row's whole tx_id was checked where it was read.
func txKey(id string) (key uint64, ok bool) {
	if len(id) != txIDLen || id[0] != '0' || id[1] != 'x' {
		return 0, false
	}
	for i := 2; i < 18; i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9':
			key = key<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			key = key<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return key, true
}

// keys returns the store's key set, reading the committed rows' keys
// through the pool the first time (never through the caller's connection,
// whose transaction may have deleted rows it will roll back). Under
// writeMu, which keeps any other write from committing meanwhile.
func (s *Store) keys(ctx context.Context) (*keySet, error) {
	if s.keySet == nil {
		k, err := loadKeySet(ctx, s.db)
		if err != nil {
			return nil, err
		}
		s.keySet = k
	}
	return s.keySet, nil
}

// replaceStored deletes the stored copy of every row of rows (each tx_id
// once) that has one, inside conn's transaction, so that writing rows
// next with plain inserts keeps every tx_id once: a row that moved (to
// another window, block or burn time) replaces its old copy wherever that
// is. It records the rows' keys.
//
// Most rows are new, and the key set says so without touching the table.
// The rest (a provisional window or the open segment fetched again, a
// retried attempt) are nearly always stored under the same burn time, so
// the first delete reads only the table's row groups whose burn times span
// theirs; any row that one did not find (it moved, or its key was stale)
// takes a second delete that reads the whole tx_id column.
func (s *Store) replaceStored(ctx context.Context, conn *sql.Conn, rows []chain.Tx) error {
	set, err := s.keys(ctx)
	if err != nil {
		return err
	}
	keys := make([]uint64, 0, len(rows))
	var maybe []*chain.Tx
	for i := range rows {
		k, ok := txKey(rows[i].TxID)
		if !ok || set.has(k) {
			maybe = append(maybe, &rows[i])
		}
		if ok {
			keys = append(keys, k)
		}
	}
	if len(maybe) > 0 {
		if err := deleteStoredCopies(ctx, conn, maybe); err != nil {
			return err
		}
	}
	for _, k := range keys {
		set.add(k)
	}
	return nil
}

// deleteStoredCopies deletes the stored rows with the tx_ids of rows:
// first among the rows stored within the burn times rows span, then,
// for the tx_ids not found there, anywhere.
func deleteStoredCopies(ctx context.Context, conn *sql.Conn, rows []*chain.Tx) error {
	lo, hi := rows[0].BurnBlockTime.Unix(), rows[0].BurnBlockTime.Unix()
	ids := make([]string, len(rows))
	for i, t := range rows {
		ids[i] = t.TxID
		lo, hi = min(lo, t.BurnBlockTime.Unix()), max(hi, t.BurnBlockTime.Unix())
	}
	found := map[string]bool{}
	q, err := conn.QueryContext(ctx, `DELETE FROM transactions
WHERE burn_block_time BETWEEN to_timestamp(?) AND to_timestamp(?) AND tx_id IN (`+idList(ids)+`)
RETURNING tx_id`, lo, hi)
	if err != nil {
		return fmt.Errorf("replace stored rows: %w", err)
	}
	for q.Next() {
		var id string
		if err := q.Scan(&id); err != nil {
			q.Close()
			return fmt.Errorf("replace stored rows: %w", err)
		}
		found[id] = true
	}
	err = q.Err()
	q.Close()
	if err != nil {
		return fmt.Errorf("replace stored rows: %w", err)
	}
	var rest []string
	for _, id := range ids {
		if !found[id] {
			rest = append(rest, id)
		}
	}
	if len(rest) == 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, `DELETE FROM transactions WHERE tx_id IN (`+idList(rest)+`)`); err != nil {
		return fmt.Errorf("replace rows stored elsewhere: %w", err)
	}
	return nil
}

// idList is ids as a list of SQL string literals, quotes doubled.
func idList(ids []string) string {
	var sb strings.Builder
	sb.Grow(len(ids) * (txIDLen + 3))
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('\'')
		sb.WriteString(strings.ReplaceAll(id, "'", "''"))
		sb.WriteByte('\'')
	}
	return sb.String()
}

// maybeStored is the rows of a bulk load whose tx_ids may have been
// stored before it: how many, and the first maybeStoredIDs of their
// tx_ids (all of them when n is no larger).
type maybeStored struct {
	n   int
	ids []string
}

// maybeStoredIDs bounds the tx_ids a bulk load keeps for an exact check:
// a load over rows already stored can have millions.
const maybeStoredIDs = 4096

// noteKeys records the keys of rows written without replaceStored (a bulk
// load) and adds to m those that may already have been stored: the caller
// replaces those, or checks them.
func noteKeys(set *keySet, rows []chain.Tx, m *maybeStored) {
	for i := range rows {
		k, ok := txKey(rows[i].TxID)
		if !ok || set.add(k) {
			m.n++
			if len(m.ids) < maybeStoredIDs {
				m.ids = append(m.ids, rows[i].TxID)
			}
		}
	}
}

// storedTwice tells whether any of ids is stored more than once, reading
// the whole tx_id column: the exact check behind a bulk load's key-set
// hits.
func storedTwice(ctx context.Context, conn *sql.Conn, ids []string) (bool, error) {
	var twice bool
	err := conn.QueryRowContext(ctx, `SELECT count(*) > count(DISTINCT tx_id) FROM transactions WHERE tx_id IN (`+idList(ids)+`)`).Scan(&twice)
	if err != nil {
		return false, fmt.Errorf("look for tx_ids stored twice: %w", err)
	}
	return twice, nil
}
