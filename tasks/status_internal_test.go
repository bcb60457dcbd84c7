package tasks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/store"
)

// Status names a write-ahead log that an interrupted run left, before the
// read that replays it; a database closed normally has none.
func TestWALNotice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	write := func(id string) *store.Store {
		t.Helper()
		st, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CommitPages(ctx, []store.Page{{WindowID: 1, Attempt: 1, Txs: []chain.Tx{{TxID: id, TxType: "coinbase", TxStatus: "success", Canonical: true}}}}); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if err := write("0xa").CloseWithoutCheckpoint(); err != nil { // as after Ctrl+C
		t.Fatal(err)
	}
	if msg := walNotice(path, 1); !strings.Contains(msg, "write-ahead log an interrupted backfill left") {
		t.Fatalf("notice %q: want the write-ahead log named", msg)
	}
	if msg := walNotice(path, 1<<40); msg != "" {
		t.Fatalf("notice %q for a log below the threshold", msg)
	}
	if err := write("0xb").Close(); err != nil { // Close folds the log in
		t.Fatal(err)
	}
	if msg := walNotice(path, 1); msg != "" {
		t.Fatalf("notice %q after a normal close", msg)
	}
}
