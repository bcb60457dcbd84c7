package hirosim

import (
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Sim is a simulated Hiro API over a synthetic chain. All methods are safe
// for concurrent use.
type Sim struct {
	cfg Config

	mu     sync.RWMutex // guards the chain below and g
	g      *generator
	burns  []burnBlock
	runMax []int64 // running maximum of burns[i].time, for window search
	blocks []block
	txs    []txRec
	reorgs uint64

	prices priceSeries

	fmu       sync.Mutex // guards faults, frng, stats, rate windows
	faults    Faults
	frng      *rand.Rand
	stats     Stats
	windows   map[string]*rateWindow
	monthUsed int64
	truncFlip bool

	mux     *http.ServeMux
	handler http.Handler

	lifeMu   sync.Mutex // guards srv, growStop
	srv      *http.Server
	growStop chan struct{}
	growWG   sync.WaitGroup
	done     chan struct{}
	closed   sync.Once
}

// New builds the chain for cfg. Generation is deterministic in cfg.Seed and
// cfg.Now (and fast: about a million transactions per second).
func New(cfg Config) *Sim {
	cfg = cfg.withDefaults()
	s := &Sim{
		cfg:     cfg,
		g:       newGenerator(cfg),
		frng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0xfa17)),
		windows: map[string]*rateWindow{},
		done:    make(chan struct{}),
	}
	s.stats = newStats()
	s.g.history(storeSink{s})
	if len(s.blocks) == 0 {
		// A history shorter than one block: the chain still needs a tip.
		now := cfg.Now.Unix()
		s.g.startTenure(storeSink{s}, now, false)
		s.g.emitBlock(storeSink{s}, now, 1)
	}
	s.prices = newPriceSeries(cfg)
	s.mux = s.routes()
	s.handler = http.HandlerFunc(s.serve)
	return s
}

// storeSink appends generated blocks to the Sim. Callers hold s.mu (or own
// s exclusively, as New does).
type storeSink struct{ s *Sim }

func (k storeSink) addBurn(b burnBlock) {
	s := k.s
	b.firstBlock = int32(len(s.blocks))
	s.burns = append(s.burns, b)
	m := b.time
	if n := len(s.runMax); n > 0 {
		m = max(m, s.runMax[n-1])
	}
	s.runMax = append(s.runMax, m)
}

func (k storeSink) addBlock(b block, txs []txRec) bool {
	s := k.s
	b.burn = int32(len(s.burns) - 1)
	b.txStart = int32(len(s.txs))
	bi := int32(len(s.blocks))
	s.blocks = append(s.blocks, b)
	for _, t := range txs {
		t.block = bi
		s.txs = append(s.txs, t)
	}
	return true
}

// burnSpan is the range of tx indices [lo, hi) of burn block i's tenure.
func (s *Sim) burnSpan(i int) (lo, hi int32) {
	lo = s.blocks[s.burns[i].firstBlock].txStart
	hi = int32(len(s.txs))
	if i+1 < len(s.burns) {
		hi = s.blocks[s.burns[i+1].firstBlock].txStart
	}
	return lo, hi
}

// blockSpan is the range of tx indices [lo, hi) of block i.
func (s *Sim) blockSpan(i int) (lo, hi int32) {
	lo = s.blocks[i].txStart
	hi = int32(len(s.txs))
	if i+1 < len(s.blocks) {
		hi = s.blocks[i+1].txStart
	}
	return lo, hi
}

// burnBlocks returns the number of Stacks blocks in burn block i's tenure.
func (s *Sim) burnBlockCount(i int) int {
	end := len(s.blocks)
	if i+1 < len(s.burns) {
		end = int(s.burns[i+1].firstBlock)
	}
	return end - int(s.burns[i].firstBlock)
}

// burnsInWindow returns the indices, ascending, of the burn blocks whose
// timestamp lies in [start, end] (a bound is ignored when its has* is
// false). Timestamps are not monotonic, but never fall more than
// maxBurnSkew below the running maximum, which bounds the scan.
func (s *Sim) burnsInWindow(start, end int64, hasStart, hasEnd bool) []int32 {
	lo, hi := 0, len(s.burns)
	if hasStart {
		lo = sort.Search(len(s.runMax), func(i int) bool { return s.runMax[i] >= start })
	}
	if hasEnd {
		hi = sort.Search(len(s.runMax), func(i int) bool { return s.runMax[i] > end+maxBurnSkew })
	}
	var out []int32
	for i := lo; i < hi; i++ {
		t := s.burns[i].time
		if (!hasStart || t >= start) && (!hasEnd || t <= end) {
			out = append(out, int32(i))
		}
	}
	return out
}

func (s *Sim) chainTx(i int) chain.Tx {
	r := &s.txs[i]
	b := &s.blocks[r.block]
	return s.g.toChainTx(r, b, &s.burns[b.burn], i-int(b.txStart))
}

// GroundTruth returns the canonical transactions whose burn_block_time lies
// in [from, to] (both inclusive, whole seconds), sorted by (block_height,
// tx_index): exactly what a complete backfill of that window must store.
func (s *Sim) GroundTruth(from, to time.Time) []chain.Tx {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []chain.Tx
	for _, bi := range s.burnsInWindow(ceilUnix(from), to.Unix(), true, true) {
		lo, hi := s.burnSpan(int(bi))
		for i := lo; i < hi; i++ {
			out = append(out, s.chainTx(int(i)))
		}
	}
	return out
}

// ceilUnix rounds up to whole seconds, so a window bound with a fraction
// does not include the second before it.
func ceilUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}

// All returns every canonical transaction, sorted by (block_height, tx_index).
func (s *Sim) All() []chain.Tx {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]chain.Tx, len(s.txs))
	for i := range s.txs {
		out[i] = s.chainTx(i)
	}
	return out
}

// Tip describes the current chain tip.
func (s *Sim) Tip() Tip {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tipLocked()
}

func (s *Sim) tipLocked() Tip {
	b := &s.blocks[len(s.blocks)-1]
	burn := &s.burns[b.burn]
	return Tip{
		Height:     b.height,
		Hash:       s.g.blockHash(b.serial),
		IndexHash:  s.g.indexBlockHash(b.serial),
		BurnHeight: burn.height,
		BurnTime:   time.Unix(burn.time, 0).UTC(),
		BlockTime:  time.Unix(b.time, 0).UTC(),
		TxCount:    int64(len(s.txs)),
		Blocks:     int64(len(s.blocks)),
	}
}

// Config returns the effective configuration (defaults filled in).
func (s *Sim) Config() Config { return s.cfg }

// Grow appends n Stacks blocks now, stamped with Config.Clock (never before
// the tip). A new tenure starts after Faults.GrowTenureBlocks blocks when
// that is set, else once BurnInterval of clock time has passed since the
// current tenure began.
func (s *Sim) Grow(n int) {
	tenureBlocks := s.Faults().GrowTenureBlocks
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.g
	for range n {
		t := max(s.cfg.Clock().Unix(), g.lastBlockTime)
		newTenure := false
		if tenureBlocks > 0 {
			newTenure = g.tenureBlocks >= tenureBlocks
		} else {
			newTenure = t-g.lastBurnIdeal >= int64(s.cfg.BurnInterval/time.Second)
		}
		if newTenure {
			// Live burn blocks are stamped with the wall clock: never
			// before the tip, so block_time >= burn_block_time holds.
			g.startTenure(storeSink{s}, t, false)
		}
		g.emitBlock(storeSink{s}, t, 1)
	}
}

// Reorg replaces the last depth Stacks blocks (at most all but the first)
// with depth+1 new ones in the same tenures: about three quarters of their
// user transactions are re-mined in the new blocks (same tx_id, new block
// hash, often a new height and time), the rest are dropped (with every later
// transaction of the same sender, so nonces stay gap-free), and a few new
// transactions appear. A dropped deploy's contract stays known to the
// generator, so later calls may name it (harmless: ids are only strings).
// GroundTruth follows.
func (s *Sim) Reorg(depth int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	depth = min(depth, len(s.blocks)-1)
	if depth <= 0 {
		return
	}
	g := s.g
	s.reorgs++
	rng := rand.New(rand.NewPCG(g.seed^0x5e0_4e0, s.reorgs))

	k := len(s.blocks) - depth
	old := append([]block(nil), s.blocks[k:]...)
	oldTxs := append([]txRec(nil), s.txs[old[0].txStart:]...)
	s.blocks = s.blocks[:k]
	s.txs = s.txs[:old[0].txStart]

	// Decide the fate of each user transaction. dropped maps a wallet to
	// the lowest nonce it lost; everything after it is dropped as well.
	dropped := map[int32]int64{}
	drop := func(w int32, nonce int64) {
		if n, ok := dropped[w]; !ok || nonce < n {
			dropped[w] = nonce
		}
	}
	type placed struct {
		tx  txRec
		pos int // index into the new blocks
	}
	var kept []placed
	system := map[int][]txRec{} // old block index -> its tenure_change and coinbase
	pos := 0
	oi := 0
	for i := range oldTxs {
		for oi+1 < len(old) && int32(i)+old[0].txStart >= old[oi+1].txStart {
			oi++
		}
		t := oldTxs[i]
		if t.typ == txTenureChange || t.typ == txCoinbase {
			system[oi] = append(system[oi], t)
			continue
		}
		_, sDrop := dropped[t.sender]
		spDrop := false
		if t.sponsor >= 0 {
			_, spDrop = dropped[t.sponsor]
		}
		if sDrop || spDrop || rng.IntN(4) == 0 {
			drop(t.sender, t.nonce)
			if t.sponsor >= 0 {
				drop(t.sponsor, t.sponsorNonce)
			}
			continue
		}
		// Re-mined one block later at random, never before an earlier
		// transaction (order within a sender is nonce order).
		pos = max(pos, oi+rng.IntN(2))
		kept = append(kept, placed{t, pos})
	}
	for w, n := range dropped {
		g.wallets[w].nonce = n
	}

	// Rebuild: depth+1 blocks, block i in the tenure of old block
	// min(i, depth-1), one second later than the block it replaces.
	g.lastBlockSerial = s.blocks[k-1].serial
	g.lastBlockTime = s.blocks[k-1].time
	g.nextHeight = s.blocks[k-1].height + 1
	next := 0
	for i := 0; i <= depth; i++ {
		src := old[min(i, depth-1)]
		b := block{
			height:       g.nextHeight,
			serial:       g.blockSerial,
			parentSerial: g.lastBlockSerial,
			burn:         src.burn,
			txStart:      int32(len(s.txs)),
			tenureStart:  i < depth && src.tenureStart,
		}
		if i < depth {
			b.time = old[i].time + 1
		} else {
			b.time = old[depth-1].time + 1 + g.blockGap()
		}
		b.time = max(b.time, g.lastBlockTime)
		g.blockSerial++
		g.nextHeight++
		bi := int32(len(s.blocks))
		s.blocks = append(s.blocks, b)
		add := func(t txRec) {
			t.block = bi
			s.txs = append(s.txs, t)
		}
		if b.tenureStart {
			for _, t := range system[i] {
				add(t)
			}
		}
		for next < len(kept) && kept[next].pos == i {
			add(kept[next].tx)
			next++
		}
		if i == depth {
			for range 1 + rng.IntN(3) {
				add(g.userTx())
			}
		}
		if int32(len(s.txs)) == b.txStart {
			// No empty blocks. The filler comes from a new wallet: an
			// existing one could have a lower nonce still to come in a
			// later new block.
			add(g.freshUserTx())
		}
		g.lastBlockSerial = b.serial
		g.lastBlockTime = b.time
	}
	last := &s.blocks[len(s.blocks)-1]
	g.tenureBlocks = len(s.blocks) - int(s.burns[last.burn].firstBlock)
}

// Start serves the simulator on a free 127.0.0.1 port and returns its base
// URL (no trailing slash). Close stops it.
func (s *Sim) Start() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("hirosim: listen on 127.0.0.1: " + err.Error())
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.lifeMu.Lock()
	s.srv = srv
	s.lifeMu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String()
}

// Close stops the server (dropping open connections and waking delayed
// responses) and the live-growth goroutine. It is safe to call twice.
func (s *Sim) Close() {
	s.closed.Do(func() {
		close(s.done)
		s.lifeMu.Lock()
		srv := s.srv
		if s.growStop != nil {
			close(s.growStop)
			s.growStop = nil
		}
		s.lifeMu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
		s.growWG.Wait()
	})
}

// SetFaults switches faults at run time. It resets the rate-limit windows
// and sets the month's usage to f.MonthUsed, and starts or stops live growth.
func (s *Sim) SetFaults(f Faults) {
	s.fmu.Lock()
	old := s.faults
	s.faults = f
	s.windows = map[string]*rateWindow{}
	s.monthUsed = f.MonthUsed
	s.fmu.Unlock()
	if old.GrowEvery != f.GrowEvery || old.GrowBlocks != f.GrowBlocks {
		s.restartGrowth(f)
	}
}

// Faults returns the current faults.
func (s *Sim) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults
}

func (s *Sim) restartGrowth(f Faults) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.growStop != nil {
		close(s.growStop)
		s.growStop = nil
	}
	select {
	case <-s.done:
		return
	default:
	}
	if f.GrowEvery <= 0 {
		return
	}
	n := max(f.GrowBlocks, 1)
	stop := make(chan struct{})
	s.growStop = stop
	s.growWG.Add(1)
	go func() {
		defer s.growWG.Done()
		tick := time.NewTicker(f.GrowEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s.Grow(n)
			}
		}
	}()
}
