package walletstest

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/store"
)

// NewDB opens a scratch DuckDB database file in a test temp dir and creates
// the real schema with store.Migrations. The caller's test binary must have
// registered the "duckdb" driver (blank import).
func NewDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", filepath.Join(tb.TempDir(), "test.duckdb"))
	if err != nil {
		tb.Fatalf("open duckdb: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := Migrate(context.Background(), db); err != nil {
		tb.Fatal(err)
	}
	return db
}

// Migrate applies every store migration to db.
func Migrate(ctx context.Context, db *sql.DB) error {
	for i, m := range store.Migrations() {
		if _, err := db.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("apply migration %d: %w", i+1, err)
		}
	}
	return nil
}

// columns of `transactions`, in the order Load writes them.
var columns = []struct{ name, typ string }{
	{"tx_id", "VARCHAR"}, {"tx_type", "VARCHAR"}, {"tx_status", "VARCHAR"},
	{"block_height", "BIGINT"}, {"block_hash", "VARCHAR"}, {"block_time", "TIMESTAMPTZ"},
	{"burn_block_height", "BIGINT"}, {"burn_block_time", "TIMESTAMPTZ"}, {"tx_index", "INTEGER"},
	{"sender_address", "VARCHAR"}, {"nonce", "BIGINT"}, {"fee_rate", "UBIGINT"},
	{"sponsored", "BOOLEAN"}, {"sponsor_address", "VARCHAR"},
	{"token_transfer_recipient_address", "VARCHAR"}, {"token_transfer_amount", "UBIGINT"},
	{"token_transfer_memo", "VARCHAR"}, {"contract_call_contract_id", "VARCHAR"},
	{"contract_call_function_name", "VARCHAR"}, {"smart_contract_contract_id", "VARCHAR"},
	{"canonical", "BOOLEAN"},
}

// Load bulk-inserts txs into `transactions` through a generated CSV file and
// DuckDB's read_csv (one statement, not row-by-row INSERTs). Empty strings
// become NULL, as the Hiro client stores absent payload fields.
func Load(ctx context.Context, db *sql.DB, txs []chain.Tx) error {
	dir, err := os.MkdirTemp("", "walletstest-*")
	if err != nil {
		return fmt.Errorf("temp dir for csv: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "txs.csv")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	const tsFmt = "2006-01-02 15:04:05+00"
	u := func(v uint64, typ string, want string) string {
		if typ != want {
			return ""
		}
		return strconv.FormatUint(v, 10)
	}
	for _, t := range txs {
		rec := []string{
			t.TxID, t.TxType, t.TxStatus,
			strconv.FormatInt(t.BlockHeight, 10), t.BlockHash, t.BlockTime.UTC().Format(tsFmt),
			strconv.FormatInt(t.BurnBlockHeight, 10), t.BurnBlockTime.UTC().Format(tsFmt),
			strconv.FormatInt(t.TxIndex, 10), t.SenderAddress, strconv.FormatInt(t.Nonce, 10),
			strconv.FormatUint(t.FeeRate, 10), strconv.FormatBool(t.Sponsored), t.SponsorAddress,
			t.TokenTransferRecipientAddress, u(t.TokenTransferAmount, t.TxType, "token_transfer"),
			t.TokenTransferMemo, t.ContractCallContractID, t.ContractCallFunctionName,
			t.SmartContractContractID, strconv.FormatBool(t.Canonical),
		}
		if err := w.Write(rec); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = fmt.Sprintf("'%s': '%s'", c.name, c.typ)
	}
	q := fmt.Sprintf(`INSERT INTO transactions SELECT * FROM read_csv('%s', header = false,
auto_detect = false, quote = '"', escape = '"', delim = ',', columns = {%s})`,
		strings.ReplaceAll(path, "'", "''"), strings.Join(cols, ", "))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("bulk insert %d txs: %w", len(txs), err)
	}
	return nil
}

// Date returns midnight UTC of y-m-d.
func Date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
