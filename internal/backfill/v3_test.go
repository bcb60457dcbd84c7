package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// fakeV3 is an in-memory v3 server over a chain whose Bitcoin timestamps
// are as hostile as the settle margin allows: tenures stamped almost S
// before the highest earlier stamp, and some stamped after the block time
// of their first Stacks block (so by-block-time alone would pick too high).
type fakeV3 struct {
	mu     sync.Mutex
	blocks []fakeBlock // ascending height
	txs    []chain.Tx  // ascending (height, tx_index)
	rng    *rand.Rand
	settle int64
	runMax int64
	burn   int64 // current tenure's burn time
	serial int

	requests atomic.Int64
	pages    atomic.Int64
	newest   atomic.Int64 // requests for the newest page (no cursor)
	// afterPage runs after page n (from 1) is served, outside the lock.
	afterPage func(n int64, next string)
	// dropFrom, when above 0, removes from the chain the row named by the
	// next cursor of the first page from page dropFrom on whose next row
	// no page has served yet (under the lock, so no page serves it in
	// between); dropped is that cursor. A row some walk already read
	// that then leaves final history cannot be seen without walking
	// those heights again, so the hostile chain never does that.
	dropFrom int64
	dropped  string
	served   map[string]bool // cursors of rows served, while dropFrom waits
	// onLookup runs before a by-block-time lookup is answered, outside the lock.
	onLookup func()
}

type fakeBlock struct{ height, time, burn int64 }

func newFakeV3(seed uint64, start, end, settle int64) *fakeV3 {
	f := &fakeV3{rng: rand.New(rand.NewPCG(seed, 7)), settle: settle}
	for t := start; t <= end; t += 30 + f.rng.Int64N(90) {
		f.addBlock(t)
	}
	return f
}

// addBlock appends a block at time t (a new tenure every ~8 blocks).
func (f *fakeV3) addBlock(t int64) {
	h := int64(5000)
	if n := len(f.blocks); n > 0 {
		h = f.blocks[n-1].height + 1
	}
	if len(f.blocks) == 0 || f.rng.IntN(8) == 0 {
		switch r := f.rng.IntN(20); {
		case r < 3 && len(f.blocks) > 0: // stamped just under S before the highest stamp
			f.burn = f.runMax - f.settle + 60 + f.rng.Int64N(60)
		case r == 3: // stamped after the block's own time
			f.burn = t + 1 + f.rng.Int64N(600)
		default:
			f.burn = t - f.rng.Int64N(300)
		}
		f.runMax = max(f.runMax, f.burn)
	}
	f.blocks = append(f.blocks, fakeBlock{h, t, f.burn})
	for i := range 1 + f.rng.IntN(4) {
		f.serial++
		f.txs = append(f.txs, chain.Tx{
			TxID: fmt.Sprintf("0x%064x", f.serial), TxType: "coinbase", TxStatus: "success",
			BlockHeight: h, BlockHash: "0xb" + strconv.FormatInt(h, 10), BlockTime: time.Unix(t, 0).UTC(),
			BurnBlockHeight: 800000 + h/8, BurnBlockTime: time.Unix(f.burn, 0).UTC(), TxIndex: int64(i),
			SenderAddress: "SPX", Nonce: int64(f.serial), FeeRate: uint64(f.serial), Canonical: true,
		})
	}
}

func (f *fakeV3) key(i int) string {
	return fmt.Sprintf("%d:2147483647:%d", f.txs[i].BlockHeight, f.txs[i].TxIndex)
}

func (f *fakeV3) Name() string                          { return "v3" }
func (f *fakeV3) Probe(context.Context) (bool, error)   { return true, nil }
func (f *fakeV3) Counters() Counters                    { return Counters{Requests: f.requests.Load()} }
func (f *fakeV3) Tip(context.Context) (hiro.Tip, error) { return f.tip(), nil }

func (f *fakeV3) tip() hiro.Tip {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests.Add(1)
	b := f.blocks[len(f.blocks)-1]
	return hiro.Tip{Height: b.height, BurnBlockTime: time.Unix(b.burn, 0).UTC(), BlockTime: time.Unix(b.time, 0).UTC(), Blocks: int64(len(f.blocks))}
}

func (f *fakeV3) BlockAtTime(_ context.Context, unix int64) (hiro.BlockRef, error) {
	if f.onLookup != nil {
		f.onLookup()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests.Add(1)
	i := sort.Search(len(f.blocks), func(i int) bool { return f.blocks[i].time > unix }) - 1
	if i < 0 {
		return hiro.BlockRef{}, hiro.ErrBlockNotFound
	}
	b := f.blocks[i]
	return hiro.BlockRef{Height: b.height, BlockTime: time.Unix(b.time, 0), BurnBlockTime: time.Unix(b.burn, 0)}, nil
}

// Transactions follows the API: H:0:0 is the top of block H, any other
// cursor must name a transaction (else 404 "Cursor not found").
func (f *fakeV3) Transactions(_ context.Context, cursor string) (hiro.V3Page, []byte, error) {
	f.mu.Lock()
	f.requests.Add(1)
	if cursor == "" {
		f.newest.Add(1)
	}
	pos := len(f.txs) // transactions at or below the cursor
	if cursor != "" {
		h, m, i, err := hiro.ParseCursor(cursor)
		if err != nil {
			f.mu.Unlock()
			return hiro.V3Page{}, nil, err
		}
		at := sort.Search(len(f.txs), func(k int) bool {
			t := f.txs[k]
			return t.BlockHeight > h || (t.BlockHeight == h && m != 0 && t.TxIndex > i)
		})
		exact := m != 0 && at > 0 && f.txs[at-1].BlockHeight == h && f.txs[at-1].TxIndex == i
		if (m != 0 && !exact) || at == 0 {
			f.mu.Unlock()
			return hiro.V3Page{}, nil, fmt.Errorf("fake: %w", hiro.ErrCursorNotFound)
		}
		pos = at
	}
	p := hiro.V3Page{Limit: hiro.PageLimit, Total: int64(len(f.txs))}
	for k := pos - 1; k >= 0 && k >= pos-hiro.PageLimit; k-- {
		p.Txs = append(p.Txs, f.txs[k])
	}
	if len(p.Txs) > 0 {
		p.Current = f.key(pos - 1)
	}
	if pos-1-hiro.PageLimit >= 0 {
		p.Next = f.key(pos - 1 - hiro.PageLimit)
	}
	n := f.pages.Add(1)
	if f.dropFrom > 0 && f.dropped == "" {
		if f.served == nil {
			f.served = map[string]bool{}
		}
		for k := pos - 1; k >= 0 && k >= pos-hiro.PageLimit; k-- {
			f.served[f.key(k)] = true
		}
		if n >= f.dropFrom && p.Next != "" && !f.served[p.Next] {
			f.dropped = p.Next
			f.removeLocked(p.Next)
		}
	}
	f.mu.Unlock()
	if f.afterPage != nil {
		f.afterPage(n, p.Next)
	}
	return p, nil, nil
}

// remove drops the transaction at cursor c from the chain (it left it).
func (f *fakeV3) removeLocked(c string) {
	for i := range f.txs {
		if f.key(i) == c {
			f.txs = append(f.txs[:i], f.txs[i+1:]...)
			return
		}
	}
}

func (f *fakeV3) all() []chain.Tx {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chain.Tx(nil), f.txs...)
}

func storedTxs(t *testing.T, s *store.Store) map[string]int64 {
	t.Helper()
	rows, err := s.DB().Query(`SELECT tx_id, block_height FROM transactions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var h int64
		if err := rows.Scan(&id, &h); err != nil {
			t.Fatal(err)
		}
		out[id] = h
	}
	return out
}

// The v3 source against a hostile chain: the first run is cut by Ctrl+C,
// a cursor's row leaves the chain mid-walk, and the runs that follow make
// the database exactly the chain with 100 % coverage, also after it grew.
// It runs with and without splitting walks for idle workers.
func TestV3RunHostileChain(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprintf("split=%v", split), func(t *testing.T) {
			t.Parallel()
			testV3RunHostileChain(t, split)
		})
	}
}

func testV3RunHostileChain(t *testing.T, split bool) {
	const settle = 2 * 3600
	now := time.Unix(1_800_000_000, 0).UTC()
	f := newFakeV3(9, now.Add(-6*24*time.Hour).Unix(), now.Unix(), settle)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{
		Store: st, V3: NewV3Over(f), API: "v3", TargetDays: 4, Settle: settle * time.Second, Window: time.Hour,
		MaxPages: 100000, Concurrency: 3, Stall: time.Minute, LogEvery: time.Minute, Now: func() time.Time { return now },
		NoSplit: !split,
	}
	var splits atomic.Int64
	if split {
		// Few final segments (their cuts fall on the cell) and more
		// workers than walks, so that idle workers split them.
		cfg.SegmentCell, cfg.Concurrency = 2000, 5
		cfg.Logger = slog.New(countMessages{"split a walk for an idle worker", &splits})
	}

	// Run 1: interrupted after 40 pages; a cursor handed out from page 25
	// on names a row that then leaves the chain before any walk read it.
	rctx, cancel := context.WithCancel(ctx)
	f.dropFrom = 25
	f.afterPage = func(n int64, next string) {
		if n == 40 {
			cancel()
		}
	}
	if _, err := Run(rctx, cfg); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("run 1: %v", err)
	}
	f.mu.Lock()
	removed := f.dropped
	f.mu.Unlock()
	if removed == "" {
		t.Fatal("no cursor row was removed")
	}
	f.afterPage = nil

	// Run 2 resumes and completes.
	sum, err := Run(ctx, cfg)
	if err != nil || sum.Outcome != "complete" || sum.Coverage.Percent != 100 {
		t.Fatalf("run 2: %v %s %.3f %s", err, sum.Outcome, sum.Coverage.Percent, sum.Message)
	}
	if split && splits.Load() == 0 {
		t.Fatal("no walk was split: the split variant does not test splits")
	}
	hs := now.Add(-4*24*time.Hour).Unix() - settle // v3 walks S below the horizon
	var want []chain.Tx
	for _, x := range f.all() {
		if x.BurnBlockTime.Unix() >= hs {
			want = append(want, x)
		}
	}
	got := storedTxs(t, st)
	for _, x := range want {
		if _, ok := got[x.TxID]; !ok {
			t.Fatalf("tx %s (height %d, burn %v) missing", x.TxID, x.BlockHeight, x.BurnBlockTime)
		}
	}
	// Everything stored is on the chain (rows below the horizon's margin
	// are extras the walk met, and they are real).
	onChain := map[string]int64{}
	for _, x := range f.all() {
		onChain[x.TxID] = x.BlockHeight
	}
	for id, h := range got {
		if onChain[id] != h {
			t.Fatalf("stored tx %s at height %d is not on the chain", id, h)
		}
	}

	// The chain grows by a day: the next run catches up exactly.
	f.mu.Lock()
	last := f.blocks[len(f.blocks)-1].time
	for t := last + 60; t <= last+24*3600; t += 30 + f.rng.Int64N(90) {
		f.addBlock(t)
	}
	f.mu.Unlock()
	now = now.Add(24 * time.Hour)
	sum, err = Run(ctx, cfg)
	if err != nil || sum.Outcome != "complete" || sum.Coverage.Percent != 100 {
		t.Fatalf("run 3: %v %s %.3f %s", err, sum.Outcome, sum.Coverage.Percent, sum.Message)
	}
	got = storedTxs(t, st)
	for _, x := range f.all() {
		if x.BurnBlockTime.Unix() >= hs {
			if _, ok := got[x.TxID]; !ok {
				t.Fatalf("after growth: tx %s (height %d) missing", x.TxID, x.BlockHeight)
			}
		}
	}
	// Coverage comes from proofs only: every covered window's rows are
	// exactly the chain's rows with burn times inside it.
	ws, err := st.Windows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perWindow := func(w store.Window) int64 {
		var n int64
		for _, x := range f.all() {
			if b := x.BurnBlockTime.Unix(); b >= w.Start && b <= w.End {
				n++
			}
		}
		return n
	}
	covered := 0
	for _, w := range ws {
		if w.Covered() {
			covered++
			if n := perWindow(w); n != w.StoredRows {
				t.Fatalf("window %+v stores %d rows, the chain has %d", w, w.StoredRows, n)
			}
		}
	}
	if covered == 0 {
		t.Fatal("no window covered")
	}
}

// The lookups that map a gap's edges to heights look past blocks whose
// burn time is on the wrong side of the edge.
func TestHeightLookups(t *testing.T) {
	f := &fakeV3{blocks: []fakeBlock{
		{height: 10, time: 1000, burn: 900},
		{height: 11, time: 1100, burn: 1250}, // stamped after its block time
		{height: 12, time: 1200, burn: 1150},
		{height: 13, time: 1300, burn: 1290},
	}}
	l := heightLookup{at: f.BlockAtTime, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	below := []struct{ t, want int64 }{
		{1210, 12}, // block 12 (burn 1150 <= 1210)
		{1150, 10}, // block 11's burn is later than 1150: one step down
		{999, 0},   // before the chain: walk to the bottom
	}
	for _, tt := range below {
		if h, err := l.below(ctx, tt.t, 100); err != nil || h != tt.want {
			t.Errorf("heightBelow(%d) = %d, %v; want %d", tt.t, h, err, tt.want)
		}
	}
	above := []struct {
		gapEnd, finalBelow, want int64
		ok                       bool
	}{
		{1000, 99, 12, true}, // block at 1200 has burn 1150 >= 1000+100
		{1060, 99, 13, true}, // block 12's burn 1150 < 1160: one step up
		{1060, 13, 0, false}, // that height is provisional: join the open range
		{600, 99, -1, true},  // the chain starts after the gap
		{2000, 99, 0, false}, // no block late enough before the tip
	}
	for _, tt := range above {
		h, ok, err := l.above(ctx, tt.gapEnd, 100, tt.finalBelow)
		if err != nil || ok != tt.ok || (ok && h != tt.want) {
			t.Errorf("heightAbove(%d) = %d, %v, %v; want %d, %v", tt.gapEnd, h, ok, err, tt.want, tt.ok)
		}
	}
}

// Start-up sends nothing twice and waits on no lookup it could send at
// once: the plan's height lookups go out together (the first one answered
// only once the second has arrived), and the newest page, read for the
// bounds, is also the open walk's first page.
func TestV3StartUpRequests(t *testing.T) {
	const settle = 2 * 3600
	now := time.Unix(1_800_000_000, 0).UTC()
	f := newFakeV3(11, now.Add(-6*24*time.Hour).Unix(), now.Unix(), settle)
	var arrived atomic.Int64
	var sequential atomic.Bool
	together := make(chan struct{})
	f.onLookup = func() {
		if arrived.Add(1) == 2 {
			close(together)
		}
		select {
		case <-together:
		case <-time.After(10 * time.Second): // a watchdog, not a pace: only a sequential plan gets here
			sequential.Store(true)
		}
	}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sum, err := Run(context.Background(), Config{
		Store: st, V3: NewV3Over(f), API: "v3", TargetDays: 4, Settle: settle * time.Second, Window: time.Hour,
		MaxPages: 100000, Concurrency: 3, Stall: time.Minute, LogEvery: time.Minute, Now: func() time.Time { return now },
	})
	if err != nil || sum.Outcome != "complete" {
		t.Fatalf("run: %v %s", err, sum.Outcome)
	}
	if sequential.Load() {
		t.Error("the plan's first lookup was answered before the second was sent: lookups went one at a time")
	}
	if n := f.newest.Load(); n != int64(sum.Iterations) {
		t.Errorf("%d requests for the newest page in %d iteration(s), want one each", n, sum.Iterations)
	}
}

// countMessages is a log handler that counts the records with one message.
type countMessages struct {
	msg string
	n   *atomic.Int64
}

func (c countMessages) Enabled(context.Context, slog.Level) bool { return true }
func (c countMessages) Handle(_ context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.n.Add(1)
	}
	return nil
}
func (c countMessages) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c countMessages) WithGroup(string) slog.Handler      { return c }
