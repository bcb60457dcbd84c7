package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// openAt opens the database at path, failing the test when it cannot.
func openAt(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "db", "w.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tx(id string, burn int64, amount uint64) chain.Tx {
	return chain.Tx{
		TxID: id, TxType: "token_transfer", TxStatus: "success", BlockHeight: burn, BlockHash: "0xb",
		BlockTime: time.Unix(burn+5, 0).UTC(), BurnBlockHeight: 1, BurnBlockTime: time.Unix(burn, 0).UTC(),
		SenderAddress: "SPA", FeeRate: 18446744073709551615, TokenTransferRecipientAddress: "SPB",
		TokenTransferAmount: amount, TokenTransferMemo: "0x00", Canonical: true,
	}
}

func TestCommitReplacesAndFinishDeletesUnseen(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w := Window{ID: 1, Start: 100, End: 199, Source: "v1", Attempt: 1, Final: true}
	if err := s.BeginAttempt(ctx, w); err != nil {
		t.Fatal(err)
	}
	// First attempt: three rows, one of them beyond 2^53.
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, Offset: 0, APITotal: 3, Txs: []chain.Tx{tx("a", 100, 9007199254740993), tx("b", 150, 1), tx("c", 199, 2)}}}); err != nil {
		t.Fatal(err)
	}
	// The same page again (a retry): no row doubles.
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, Offset: 0, APITotal: 3, Txs: []chain.Tx{tx("a", 100, 9007199254740993)}}}); err != nil {
		t.Fatal(err)
	}
	f, err := s.FinishAttempt(ctx, w, 3, true)
	if err != nil || !f.Verified || f.Stored != 3 || f.Deleted != 0 {
		t.Fatalf("finish %+v %v", f, err)
	}
	var amount, fee uint64
	if err := s.DB().QueryRow(`SELECT token_transfer_amount, fee_rate FROM transactions WHERE tx_id='a'`).Scan(&amount, &fee); err != nil || amount != 9007199254740993 || fee != 18446744073709551615 {
		t.Fatalf("amounts not exact: %d %d %v", amount, fee, err)
	}

	// A second attempt that no longer sees "b" (it left the chain) deletes it.
	w.Attempt = 2
	if err := s.BeginAttempt(ctx, w); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 2, Offset: 0, APITotal: 2, Txs: []chain.Tx{tx("a", 100, 9007199254740993), tx("c", 199, 2)}}}); err != nil {
		t.Fatal(err)
	}
	f, err = s.FinishAttempt(ctx, w, 2, true)
	if err != nil || !f.Verified || f.Stored != 2 || f.Deleted != 1 {
		t.Fatalf("finish after reorg %+v %v", f, err)
	}
	ws, _ := s.Windows(ctx)
	if len(ws) != 1 || !ws[0].Covered() || ws[0].APITotal != 2 {
		t.Fatalf("windows %+v", ws)
	}

	// A total that does not match leaves the window unverified.
	w.Attempt = 3
	_ = s.BeginAttempt(ctx, w)
	_, _ = s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 3, Offset: 0, APITotal: 3, Txs: []chain.Tx{tx("a", 100, 1), tx("c", 199, 2)}}})
	if f, err = s.FinishAttempt(ctx, w, 3, true); err != nil || f.Verified {
		t.Fatalf("mismatch verified: %+v %v", f, err)
	}
	ws, _ = s.Windows(ctx)
	if ws[0].Covered() {
		t.Fatal("a window that does not match the API counts as covered")
	}
}

func TestCoverageOf(t *testing.T) {
	cov := func(s, e int64) Window { return Window{Start: s, End: e, Verified: true, Final: true} }
	tests := []struct {
		name        string
		horizon     Span
		windows     []Window
		wantPercent float64
		wantMissing []Span
	}{
		{"empty", Span{Start: 0, End: 99}, nil, 0, []Span{{Start: 0, End: 99}}},
		{"full", Span{Start: 0, End: 99}, []Window{cov(0, 49), cov(50, 99)}, 100, nil},
		{"gap", Span{Start: 0, End: 99}, []Window{cov(0, 24), cov(75, 99)}, 50, []Span{{Start: 25, End: 74}}},
		{"overhang both sides", Span{Start: 10, End: 89}, []Window{cov(0, 200)}, 100, nil},
		{"provisional does not count", Span{Start: 0, End: 99}, []Window{cov(0, 49), {Start: 50, End: 99, Verified: true}}, 50, []Span{{Start: 50, End: 99}}},
		{"unverified does not count", Span{Start: 0, End: 99}, []Window{{Start: 0, End: 99, Final: true}}, 0, []Span{{Start: 0, End: 99}}},
		{"tail missing", Span{Start: 0, End: 99}, []Window{cov(0, 89)}, 90, []Span{{Start: 90, End: 99}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CoverageOf(tt.horizon, tt.windows)
			if c.Percent != tt.wantPercent || len(c.Missing) != len(tt.wantMissing) {
				t.Fatalf("got %.2f%% missing %v", c.Percent, c.Missing)
			}
			for i := range c.Missing {
				if c.Missing[i] != tt.wantMissing[i] {
					t.Fatalf("missing %v, want %v", c.Missing, tt.wantMissing)
				}
			}
		})
	}
}

func TestReadOnlyNeverCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.duckdb")
	_, err := Open(context.Background(), path, Options{ReadOnly: true})
	if err == nil || !strings.Contains(err.Error(), "mage backfill") {
		t.Fatalf("want an explanation, got %v", err)
	}
	if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
		t.Fatal("read-only open created the file")
	}
}

// A second process cannot open a database this process holds; the error
// names this process, and says it is alive.
func TestLockErrorNamesHolder(t *testing.T) {
	if os.Getenv("STORE_LOCK_CHILD") != "" {
		_, err := Open(context.Background(), os.Getenv("STORE_LOCK_CHILD"), Options{ReadOnly: true})
		le, ok := err.(*LockError)
		if !ok {
			os.Stdout.WriteString("not a LockError: " + err.Error())
			os.Exit(3)
		}
		os.Stdout.WriteString(le.Error())
		os.Exit(0)
	}
	s := openTemp(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLockErrorNamesHolder$")
	cmd.Env = append(os.Environ(), "STORE_LOCK_CHILD="+s.Path())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	msg := string(out)
	if !strings.Contains(msg, "PID "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, "which is running") {
		t.Fatalf("lock message does not name the live holder: %s", msg)
	}
}

func TestParseLockErrorStale(t *testing.T) {
	// PID 2^22+1 is above Linux's pid_max default, so no such process runs.
	err := parseLockError("/x.duckdb", errString(`IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /usr/bin/mage (PID 4194305). See also https://duckdb.org`))
	if err == nil || err.PID != 4194305 || err.Program != "/usr/bin/mage" || err.Alive || !strings.Contains(err.Error(), "no longer running") {
		t.Fatalf("%+v", err)
	}
	if parseLockError("/x", errString("Catalog Error: no table")) != nil {
		t.Fatal("not a lock error")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// Cached facts are reused until a commit changes the table.
func TestTableFactsCache(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w := Window{ID: 1, Start: 100, End: 199, Source: "v1", Attempt: 1, Final: true}
	_ = s.BeginAttempt(ctx, w)
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, APITotal: 1, Txs: []chain.Tx{tx("a", 100, 1)}}}); err != nil {
		t.Fatal(err)
	}
	f, err := s.TableFacts(ctx)
	if err != nil || f.Rows != 1 || f.Wallets != 1 {
		t.Fatalf("%+v %v", f, err)
	}
	b := tx("b", 120, 1)
	b.SenderAddress = "SPZ"
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, Offset: 50, APITotal: 2, Txs: []chain.Tx{b}}}); err != nil {
		t.Fatal(err)
	}
	if f, err = s.TableFacts(ctx); err != nil || f.Rows != 2 || f.Wallets != 2 {
		t.Fatalf("stale facts after a commit: %+v %v", f, err)
	}
}

// Closing without a checkpoint leaves the WAL for the next open to replay,
// and loses nothing that was committed.
func TestCloseWithoutCheckpointKeepsCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	s := openAt(t, path, Options{})
	if err := s.SetMeta(ctx, "k", "committed"); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWithoutCheckpoint(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + ".wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("want the WAL left for the next open, got %v", err)
	}
	s = openAt(t, path, Options{ReadOnly: true})
	defer s.Close()
	if v, ok, err := s.Meta(ctx, "k"); err != nil || !ok || v != "committed" {
		t.Fatalf("after replaying the WAL: %q %v %v", v, ok, err)
	}
}

// TestCommitWindowOpsMeetsStoredRow commits a batch that meets a row
// already stored: the batch lands whole, with the newest copy of the row
// in place of the old one, its window's end counted after it, and the data
// version counted once per commit.
func TestCommitWindowOpsMeetsStoredRow(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	version := func() string {
		v, _, err := s.Meta(ctx, "data_version")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	old := Window{ID: 1, Start: 100, End: 199, Source: "v1", Attempt: 1, Final: true}
	if _, err := s.CommitWindowOps(ctx, []WindowOp{{Begin: &old}, {Page: &Page{WindowID: 1, Attempt: 1, APITotal: 1, Txs: []chain.Tx{tx("a", 100, 1)}}}}); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != "1" {
		t.Fatalf("data version %q after the first commit, want 1", v)
	}
	// A fresh window, and a row of the first one served again with another
	// amount, in one batch.
	fresh := Window{ID: 2, Start: 200, End: 299, Source: "v1", Attempt: 1, Final: true}
	end := &FinishOp{Window: fresh, APITotal: 2, Final: true}
	n, err := s.CommitWindowOps(ctx, []WindowOp{
		{Begin: &fresh},
		{Page: &Page{WindowID: 2, Attempt: 1, APITotal: 2, Txs: []chain.Tx{tx("b", 200, 2), tx("c", 250, 3)}}},
		{Page: &Page{WindowID: 1, Attempt: 1, Offset: 50, APITotal: 1, Txs: []chain.Tx{tx("a", 100, 7)}}},
		{Finish: end},
	})
	if err != nil || n != 3 {
		t.Fatalf("commit: %d rows, %v", n, err)
	}
	if r := end.Result; !r.Verified || r.Stored != 2 || r.Deleted != 0 {
		t.Fatalf("finish %+v", r)
	}
	var rows int
	var amount uint64
	if err := s.DB().QueryRow(`SELECT count(*), sum(CASE WHEN tx_id = 'a' THEN token_transfer_amount END) FROM transactions`).Scan(&rows, &amount); err != nil || rows != 3 || amount != 7 {
		t.Fatalf("%d rows, amount of a %d: %v", rows, amount, err)
	}
	if v := version(); v != "2" {
		t.Fatalf("data version %q after the second commit, want 2", v)
	}
	// The same row once more replaces its copy again.
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, Offset: 100, APITotal: 1, Txs: []chain.Tx{tx("a", 100, 8)}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().QueryRow(`SELECT count(*), sum(CASE WHEN tx_id = 'a' THEN token_transfer_amount END) FROM transactions`).Scan(&rows, &amount); err != nil || rows != 3 || amount != 8 {
		t.Fatalf("%d rows, amount of a %d: %v", rows, amount, err)
	}
}
