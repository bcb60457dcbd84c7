package hirosim

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Transaction types, in the compact form the simulator stores.
const (
	txTokenTransfer uint8 = iota
	txContractCall
	txSmartContract
	txCoinbase
	txTenureChange
)

var txTypeNames = [...]string{"token_transfer", "contract_call", "smart_contract", "coinbase", "tenure_change"}

// Transaction statuses.
const (
	stSuccess uint8 = iota
	stAbortByResponse
	stAbortByPostCondition
)

var txStatusNames = [...]string{"success", "abort_by_response", "abort_by_post_condition"}

// Memo kinds of token transfers; the memo bytes derive from the kind and aux.
const (
	memoZero uint8 = iota
	memoNumber
	memoText
	memoHostile
)

var memoTexts = []string{"Thanks!", "rent", "gm", "exchange deposit", "\U0001F680 to the moon", "invoice 2024-11", "airdrop"}

// hostileTexts stay within the 34-byte memo limit.
var hostileTexts = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'; DROP TABLE transactions;--`,
	`</td><b>&amp;&lt;x&gt;</b>`,
}

// maxBurnSkew bounds how far a burn block's timestamp may sit below the
// highest timestamp seen so far. The generator enforces it so that time
// window queries can binary-search a running maximum.
const maxBurnSkew = 30 * 60

// Hash derivation domains.
const (
	kindTx uint64 = iota + 1
	kindBlock
	kindIndexBlock
	kindBurn
	kindConsensus
	kindMinerTx
	kindCoinbaseData
	kindVRF
	kindPubkey
	kindArgs
	kindContractDeployer
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// derive returns 32 pseudo-random bytes fixed by (seed, kind, n). Hashes are
// derived, not stored, which keeps a million-transaction chain small.
func derive(seed, kind, n uint64) (out [32]byte) {
	h := splitmix(seed ^ splitmix(kind<<56^n))
	for i := range 4 {
		h = splitmix(h + uint64(i))
		binary.BigEndian.PutUint64(out[i*8:], h)
	}
	return out
}

func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

// wallet is one standard principal with its next nonce.
type wallet struct {
	hash    [20]byte
	version byte
	nonce   int64
}

type argKind uint8

const (
	argUint argKind = iota
	argPrincipal
	argNone
	argSomeUint
	argBool
	argBuff
)

type argDef struct {
	name, typ string
	kind      argKind
}

type fnDef struct {
	name, sig string
	args      []argDef
}

// contract is a callable contract principal.
type contract struct {
	id  string
	fns []fnDef
}

// burnBlock is a Bitcoin block; each one opens exactly one tenure.
type burnBlock struct {
	height     int64
	time       int64 // the (possibly out-of-order) timestamp, unix seconds
	firstBlock int32 // index of its first Stacks block in Sim.blocks
}

// block is a Stacks block. Its hashes derive from serial, which is unique
// even across reorgs.
type block struct {
	height       int64
	serial       uint64
	parentSerial uint64
	time         int64
	burn         int32 // index into Sim.burns
	txStart      int32 // index of its first tx in Sim.txs
	tenureStart  bool
}

// txRec is one transaction in compact form (~80 bytes). Its tx_id derives
// from serial, so a re-mined transaction keeps its id.
type txRec struct {
	serial       uint64
	block        int32 // index into Sim.blocks
	sender       int32 // wallet index
	sponsor      int32 // wallet index, -1 when not sponsored
	target       int32 // token_transfer: recipient wallet (>= 0) or contract -(i+1); contract_call/smart_contract: contract index
	nonce        int64
	sponsorNonce int64
	fee          uint64
	amount       uint64
	aux          uint32 // per-transaction variety (memo text, costs, versions)
	fn           uint16
	typ          uint8
	status       uint8
	memo         uint8
}

// sink receives the generated chain, block by block.
type sink interface {
	addBurn(b burnBlock)
	// addBlock returns false to stop generation.
	addBlock(b block, txs []txRec) bool
}

// generator is the stateful chain generator shared by the Sim (history,
// growth, reorgs) and the streaming Generate.
type generator struct {
	cfg  Config
	seed uint64
	rng  *rand.Rand

	wallets   []wallet
	addrs     []string
	miners    []int32
	sponsors  []int32
	userBase  int32 // wallets below this index are miners and sponsors
	contracts []contract
	popular   int // the first popular contracts get most calls

	txSerial, blockSerial uint64

	nextHeight, nextBurnHeight int64
	lastBlockTime              int64
	lastBlockSerial            uint64
	stamps                     []int64 // recent burn timestamps, for the median-time-past rule
	runMax                     int64
	lastBurnIdeal              int64
	tenureBlocks               int
	tenureMiner                int32

	scratch []txRec
}

func newGenerator(cfg Config) *generator {
	seed := uint64(cfg.Seed)
	g := &generator{
		cfg:             cfg,
		seed:            seed,
		rng:             rand.New(rand.NewPCG(seed, splitmix(seed^0x5eed))),
		nextHeight:      cfg.StartHeight,
		nextBurnHeight:  cfg.StartBurnHeight,
		lastBlockSerial: math.MaxUint64, // the parent of the first block is outside the simulation
		runMax:          math.MinInt64,
	}
	for range 12 {
		g.miners = append(g.miners, g.newWallet())
	}
	for range 4 {
		g.sponsors = append(g.sponsors, g.newWallet())
	}
	g.userBase = int32(len(g.wallets))
	for range 150 {
		g.newWallet()
	}
	g.initContracts()
	return g
}

func (g *generator) newWallet() int32 {
	var w wallet
	binary.BigEndian.PutUint64(w.hash[0:], g.rng.Uint64())
	binary.BigEndian.PutUint64(w.hash[8:], g.rng.Uint64())
	binary.BigEndian.PutUint32(w.hash[16:], g.rng.Uint32())
	w.version = VersionMainnetSingleSig
	if g.rng.IntN(40) == 0 {
		w.version = VersionMainnetMultiSig
	}
	g.wallets = append(g.wallets, w)
	g.addrs = append(g.addrs, C32Address(w.version, w.hash))
	return int32(len(g.wallets) - 1)
}

// deployerAddress derives a stable mainnet address for a built-in contract.
func (g *generator) deployerAddress(n uint64) string {
	h := derive(g.seed, kindContractDeployer, n)
	return C32Address(VersionMainnetSingleSig, [20]byte(h[:20]))
}

func (g *generator) initContracts() {
	u := func(name string) argDef { return argDef{name, "uint", argUint} }
	p := func(name string) argDef { return argDef{name, "principal", argPrincipal} }
	delegate := fnDef{"delegate-stx",
		"(define-public (delegate-stx (amount-ustx uint) (delegate-to principal) (until-burn-ht (optional uint)) ))",
		[]argDef{u("amount-ustx"), p("delegate-to"), {"until-burn-ht", "(optional uint)", argNone}}}
	g.contracts = []contract{
		{"SP001SFSMC2ZY76PD4M68P3WGX154XCH7NE3TYMX.pox4-pools", []fnDef{delegate}},
		{g.deployerAddress(1) + ".sbtc-token", []fnDef{{"transfer",
			"(define-public (transfer (amount uint) (sender principal) (recipient principal) (memo (optional (buff 34)))))",
			[]argDef{u("amount"), p("sender"), p("recipient"), {"memo", "(optional (buff 34))", argNone}}}}},
		{g.deployerAddress(2) + ".amm-pool-v2-01", []fnDef{{"swap-helper",
			"(define-public (swap-helper (token-x principal) (token-y principal) (factor uint) (dx uint) (min-dy (optional uint))))",
			[]argDef{p("token-x"), p("token-y"), u("factor"), u("dx"), {"min-dy", "(optional uint)", argSomeUint}}}}},
		{"SP000000000000000000002Q6VF78.pox-4", []fnDef{delegate, {"revoke-delegate-stx", "(define-public (revoke-delegate-stx))", nil}}},
		{g.deployerAddress(3) + ".stacking-dao-core-v2", []fnDef{{"deposit",
			"(define-public (deposit (reserve principal) (stx-amount uint) (referrer (optional principal))))",
			[]argDef{p("reserve"), u("stx-amount"), {"referrer", "(optional principal)", argNone}}}}},
		{g.deployerAddress(4) + ".BNS-V2", []fnDef{{"name-claim-fast",
			"(define-public (name-claim-fast (name (buff 48)) (namespace (buff 20)) (send-to principal)))",
			[]argDef{{"name", "(buff 48)", argBuff}, {"namespace", "(buff 20)", argBuff}, p("send-to")}}}},
		{g.deployerAddress(5) + ".velar-router", []fnDef{{"swap-exact-tokens-for-tokens",
			"(define-public (swap-exact-tokens-for-tokens (id uint) (amt-in uint) (amt-out-min uint)))",
			[]argDef{u("id"), u("amt-in"), u("amt-out-min")}}}},
		{g.deployerAddress(6) + ".megapont-ape-club-nft", []fnDef{{"claim", "(define-public (claim))", nil},
			{"set-approved", "(define-public (set-approved (operator principal) (approved bool)))",
				[]argDef{p("operator"), {"approved", "bool", argBool}}}}},
	}
	if g.cfg.Hostile {
		g.contracts = append(g.contracts,
			contract{g.deployerAddress(7) + `.<script>alert(1)</script>`, []fnDef{{`"><img src=x onerror=alert('fn')>`, "", nil}}},
			contract{g.deployerAddress(8) + ".token-\"quoted\"", []fnDef{{`<b>mint</b>&amp;"'`, "", []argDef{u("amount")}}}},
		)
	}
	g.popular = len(g.contracts)
}

// pickUser returns a sender: sometimes a brand-new wallet, otherwise an
// existing one drawn heavy-tailed towards the oldest (whales) or the most
// recent (returning newcomers).
func (g *generator) pickUser() int32 {
	n := int32(len(g.wallets)) - g.userBase
	if n < 1 || g.rng.Float64() < g.cfg.NewWalletRate {
		return g.newWallet()
	}
	u := g.rng.Float64()
	var off int32
	if g.rng.IntN(2) == 0 {
		off = int32(float64(n) * u * u * u)
	} else {
		off = n - 1 - int32(float64(n)*u*u)
	}
	off = min(max(off, 0), n-1)
	return g.userBase + off
}

func (g *generator) pickContract() int32 {
	n := len(g.contracts)
	if n > g.popular && g.rng.IntN(4) == 0 {
		// a recently deployed contract
		return int32(n - 1 - int(float64(n-g.popular)*g.rng.Float64()*g.rng.Float64()))
	}
	u := g.rng.Float64()
	return int32(float64(g.popular) * u * u)
}

func (g *generator) logUniform(lo, hi float64) uint64 {
	return uint64(math.Exp(math.Log(lo) + g.rng.Float64()*(math.Log(hi)-math.Log(lo))))
}

// bigAmount is beyond 2^53, where float64 stops being exact.
func (g *generator) bigAmount() uint64 {
	top := uint64(math.MaxUint64)
	if g.cfg.MaxAmount > 1<<53+1 {
		top = g.cfg.MaxAmount
	}
	if g.rng.IntN(8) == 0 {
		return top
	}
	return 1<<53 + 1 + g.rng.Uint64N(top-1<<53-1)
}

func (g *generator) fee(typ uint8) uint64 {
	if g.rng.IntN(20000) == 0 {
		big := g.bigAmount()
		if g.cfg.PlausibleFees {
			// Same random draws, so the rest of the chain is unchanged.
			return 1_000_000 + big%50_000_000
		}
		return big
	}
	switch typ {
	case txSmartContract:
		return g.logUniform(5_000, 5_000_000)
	case txContractCall:
		return g.logUniform(1_000, 2_000_000)
	default:
		return g.logUniform(180, 300_000)
	}
}

// userTx generates one user transaction (not yet placed in a block).
func (g *generator) userTx() txRec {
	r := txRec{serial: g.txSerial, sponsor: -1, aux: g.rng.Uint32()}
	g.txSerial++
	u := g.rng.Float64()
	switch {
	case u < 0.47:
		r.typ = txTokenTransfer
	case u < 0.965:
		r.typ = txContractCall
	default:
		r.typ = txSmartContract
	}
	r.sender = g.pickUser()
	r.nonce = g.wallets[r.sender].nonce
	g.wallets[r.sender].nonce++
	if g.rng.IntN(30) == 0 {
		r.sponsor = g.sponsors[g.rng.IntN(len(g.sponsors))]
		r.sponsorNonce = g.wallets[r.sponsor].nonce
		g.wallets[r.sponsor].nonce++
	}
	r.fee = g.fee(r.typ)
	s := g.rng.Float64()
	switch r.typ {
	case txTokenTransfer:
		switch {
		case g.rng.IntN(16) == 0:
			r.target = -(g.pickContract() + 1)
		case g.rng.IntN(3) == 0:
			r.target = g.newWallet()
		default:
			r.target = g.pickUser()
		}
		if g.rng.IntN(300) == 0 {
			r.amount = g.bigAmount()
			if g.cfg.PlausibleFees {
				// Same random draws, so the rest of the chain is unchanged:
				// a whale's 0.1–5.1 M STX instead of more than the supply.
				r.amount = 100_000_000_000 + r.amount%5_000_000_000_000
			}
		} else {
			r.amount = g.logUniform(1, 5e12)
		}
		m := g.rng.Float64()
		switch {
		case g.cfg.Hostile && m < 0.1:
			r.memo = memoHostile
		case m < 0.7:
			r.memo = memoZero
		case m < 0.92:
			r.memo = memoNumber
		default:
			r.memo = memoText
		}
		if s < 0.02 {
			r.status = stAbortByPostCondition
		}
	case txContractCall:
		c := g.pickContract()
		r.target = c
		r.fn = uint16(g.rng.IntN(len(g.contracts[c].fns)))
		switch {
		case s < 0.09:
			r.status = stAbortByResponse
		case s < 0.12:
			r.status = stAbortByPostCondition
		}
	case txSmartContract:
		r.target = g.deploy(r.sender)
		if s < 0.05 {
			r.status = stAbortByResponse
		}
	}
	return r
}

// freshUserTx is a plain token transfer from a brand-new wallet, unsponsored.
func (g *generator) freshUserTx() txRec {
	r := txRec{serial: g.txSerial, sponsor: -1, aux: g.rng.Uint32(), typ: txTokenTransfer}
	g.txSerial++
	r.sender = g.newWallet()
	g.wallets[r.sender].nonce++
	r.fee = g.fee(txTokenTransfer)
	r.target = g.pickUser()
	r.amount = g.logUniform(1, 5e12)
	return r
}

var contractWords = []string{"token", "nft", "dao-vote", "vault", "staking", "lottery", "bridge", "market", "swap"}

var hostileContractNames = []string{`<script>alert(1)</script>`, `x"onmouseover="alert(1)`, `a'b<i>c</i>`}

// deploy adds a contract deployed by sender and returns its index.
func (g *generator) deploy(sender int32) int32 {
	var name string
	if g.cfg.Hostile && g.rng.IntN(5) == 0 {
		name = hostileContractNames[g.rng.IntN(len(hostileContractNames))]
	} else {
		name = contractWords[g.rng.IntN(len(contractWords))] + "-" + strconv.Itoa(len(g.contracts))
	}
	fns := []fnDef{
		{"mint", "(define-public (mint (amount uint)))", []argDef{{"amount", "uint", argUint}}},
		{"transfer", "(define-public (transfer (amount uint) (recipient principal)))",
			[]argDef{{"amount", "uint", argUint}, {"recipient", "principal", argPrincipal}}},
	}
	if g.cfg.Hostile && g.rng.IntN(5) == 0 {
		fns = append(fns, fnDef{`claim"<svg/onload=alert(1)>`, "", nil})
	}
	g.contracts = append(g.contracts, contract{id: g.addrs[sender] + "." + name, fns: fns})
	return int32(len(g.contracts) - 1)
}

func (g *generator) systemTx(typ uint8) txRec {
	r := txRec{serial: g.txSerial, sponsor: -1, typ: typ, sender: g.tenureMiner, aux: g.rng.Uint32()}
	g.txSerial++
	r.nonce = g.wallets[r.sender].nonce
	g.wallets[r.sender].nonce++
	return r
}

// poisson draws from Poisson(lambda).
func (g *generator) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		n := int(math.Round(lambda + math.Sqrt(lambda)*g.rng.NormFloat64()))
		return max(n, 0)
	}
	l := math.Exp(-lambda)
	k, p := 0, 1.0
	for {
		p *= g.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// userTxCount is the number of user transactions in a block at time t: a
// daily rhythm times a geometric-like burstiness (Poisson of an exponential).
func (g *generator) userTxCount(t int64) int {
	day := float64(t%86400) / 86400
	lambda := g.cfg.TxPerBlock * (1 + 0.35*math.Sin(2*math.Pi*(day-0.25)))
	return min(g.poisson(lambda*g.rng.ExpFloat64()), 30000)
}

func (g *generator) blockGap() int64 {
	return max(1, int64(g.rng.ExpFloat64()*g.cfg.BlockInterval.Seconds()))
}

func (g *generator) burnGap() int64 {
	mean := g.cfg.BurnInterval.Seconds()
	if g.rng.IntN(50) == 0 {
		// a slow block, like Bitcoin's occasional hour-long gaps
		return int64(mean * (5.5 + 1.5*g.rng.Float64()))
	}
	gap := g.rng.ExpFloat64() * mean
	return int64(min(max(gap, max(30, mean/10)), 4*mean))
}

// mtp is the median of the last 11 burn timestamps (Bitcoin's rule: a
// block's time must exceed it).
func (g *generator) mtp() (int64, bool) {
	if len(g.stamps) == 0 {
		return 0, false
	}
	s := append([]int64(nil), g.stamps...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2], true
}

// startTenure emits a new burn block found at wall time ideal. Its timestamp
// is usually ideal, sometimes earlier than its parent's (as Bitcoin allows),
// and always above the median time past and within maxBurnSkew of the
// highest timestamp so far.
func (g *generator) startTenure(s sink, ideal int64, allowSkew bool) {
	stamp := ideal
	if allowSkew && len(g.stamps) > 0 && g.rng.IntN(25) == 0 {
		parent := g.stamps[len(g.stamps)-1]
		stamp = min(ideal, parent) - 60 - g.rng.Int64N(29*60)
	}
	if m, ok := g.mtp(); ok && stamp <= m {
		stamp = m + 1
	}
	if g.runMax != math.MinInt64 && stamp < g.runMax-maxBurnSkew {
		stamp = g.runMax - maxBurnSkew
	}
	g.stamps = append(g.stamps, stamp)
	if len(g.stamps) > 11 {
		g.stamps = g.stamps[1:]
	}
	g.runMax = max(g.runMax, stamp)
	g.lastBurnIdeal = ideal
	g.tenureBlocks = 0
	g.tenureMiner = g.miners[g.rng.IntN(len(g.miners))]
	s.addBurn(burnBlock{height: g.nextBurnHeight, time: stamp})
	g.nextBurnHeight++
}

// emitBlock generates the next Stacks block at time t with its
// transactions. A block that would hold fewer than minUser user
// transactions and does not open a tenure is not mined at all (miners do
// not mine empty blocks); for minUser > 0 the count is raised instead.
func (g *generator) emitBlock(s sink, t int64, minUser int) bool {
	n := g.userTxCount(t)
	if n < minUser {
		n = minUser
	}
	if n == 0 && g.tenureBlocks > 0 {
		return true
	}
	b := block{
		height:       g.nextHeight,
		serial:       g.blockSerial,
		parentSerial: g.lastBlockSerial,
		time:         t,
		tenureStart:  g.tenureBlocks == 0,
	}
	g.blockSerial++
	g.nextHeight++
	txs := g.scratch[:0]
	if b.tenureStart {
		txs = append(txs, g.systemTx(txTenureChange), g.systemTx(txCoinbase))
	}
	for range n {
		txs = append(txs, g.userTx())
	}
	g.scratch = txs
	g.lastBlockTime = t
	g.lastBlockSerial = b.serial
	g.tenureBlocks++
	return s.addBlock(b, txs)
}

// history generates the chain from Now-History up to Now.
func (g *generator) history(s sink) {
	now := g.cfg.Now.Unix()
	ideal := now - int64(g.cfg.History/time.Second)
	for {
		first := max(ideal+1+g.rng.Int64N(20), g.lastBlockTime+1)
		if first > now {
			return
		}
		next := ideal + g.burnGap()
		g.startTenure(s, ideal, true)
		for bt := first; ; {
			if !g.emitBlock(s, bt, 0) {
				return
			}
			bt += g.blockGap()
			if bt >= next || bt > now {
				break
			}
		}
		ideal = next
	}
}

// memoBytes renders a token transfer memo: 34 bytes, zero padded.
func (g *generator) memoBytes(r *txRec) [34]byte {
	var m [34]byte
	switch r.memo {
	case memoNumber:
		copy(m[:], strconv.FormatUint(uint64(r.aux%1_000_000_000), 10))
	case memoText:
		copy(m[:], memoTexts[int(r.aux)%len(memoTexts)])
	case memoHostile:
		copy(m[:], hostileTexts[int(r.aux)%len(hostileTexts)])
	}
	return m
}

func (g *generator) memoHex(r *txRec) string {
	m := g.memoBytes(r)
	return hex0x(m[:])
}

// principal renders a token transfer recipient.
func (g *generator) recipient(r *txRec) string {
	if r.target < 0 {
		return g.contracts[-r.target-1].id
	}
	return g.addrs[r.target]
}

func (g *generator) txID(r *txRec) string {
	h := derive(g.seed, kindTx, r.serial)
	return hex0x(h[:])
}

// serialHash derives a block hash whose last 8 bytes are the block serial
// under a seed-derived mask: it still looks random, but serialOf can invert
// it, so lookups by hash are a binary search instead of a scan.
func (g *generator) serialHash(kind, serial uint64) [32]byte {
	h := derive(g.seed, kind, serial)
	binary.BigEndian.PutUint64(h[24:], serial^splitmix(g.seed^kind<<56))
	return h
}

// serialOf inverts serialHash; ok is false for a hash it did not make.
func (g *generator) serialOf(kind uint64, hash string) (serial uint64, ok bool) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(hash), "0x"))
	if err != nil || len(b) != 32 {
		return 0, false
	}
	serial = binary.BigEndian.Uint64(b[24:]) ^ splitmix(g.seed^kind<<56)
	return serial, g.serialHash(kind, serial) == [32]byte(b)
}

func (g *generator) blockHash(serial uint64) string {
	h := g.serialHash(kindBlock, serial)
	return hex0x(h[:])
}

func (g *generator) indexBlockHash(serial uint64) string {
	h := g.serialHash(kindIndexBlock, serial)
	return hex0x(h[:])
}

// burnHash looks like a Bitcoin block hash (leading zero bytes).
func (g *generator) burnHash(height int64) string {
	h := derive(g.seed, kindBurn, uint64(height))
	for i := range 9 {
		h[i] = 0
	}
	return hex0x(h[:])
}

// toChainTx converts a stored transaction to the shared row type.
func (g *generator) toChainTx(r *txRec, b *block, burn *burnBlock, txIndex int) chain.Tx {
	t := chain.Tx{
		TxID:            g.txID(r),
		TxType:          txTypeNames[r.typ],
		TxStatus:        txStatusNames[r.status],
		BlockHeight:     b.height,
		BlockHash:       g.blockHash(b.serial),
		BlockTime:       time.Unix(b.time, 0).UTC(),
		BurnBlockHeight: burn.height,
		BurnBlockTime:   time.Unix(burn.time, 0).UTC(),
		TxIndex:         int64(txIndex),
		SenderAddress:   g.addrs[r.sender],
		Nonce:           r.nonce,
		FeeRate:         r.fee,
		Sponsored:       r.sponsor >= 0,
		Canonical:       true,
	}
	if r.sponsor >= 0 {
		t.SponsorAddress = g.addrs[r.sponsor]
	}
	switch r.typ {
	case txTokenTransfer:
		t.TokenTransferRecipientAddress = g.recipient(r)
		t.TokenTransferAmount = r.amount
		t.TokenTransferMemo = g.memoHex(r)
	case txContractCall:
		c := &g.contracts[r.target]
		t.ContractCallContractID = c.id
		t.ContractCallFunctionName = c.fns[r.fn].name
	case txSmartContract:
		t.SmartContractContractID = g.contracts[r.target].id
	}
	return t
}

// streamSink converts blocks to chain.Tx as they are generated, keeping
// nothing but the current burn block.
type streamSink struct {
	g     *generator
	burn  burnBlock
	yield func(chain.Tx) bool
}

func (s *streamSink) addBurn(b burnBlock) { s.burn = b }

func (s *streamSink) addBlock(b block, txs []txRec) bool {
	for i := range txs {
		if !s.yield(s.g.toChainTx(&txs[i], &b, &s.burn, i)) {
			return false
		}
	}
	return true
}

// Generate streams the chain New(cfg) would hold, in (block_height,
// tx_index) order, without keeping it in memory (only the wallet and
// contract tables grow). It stops early when yield returns false. It is the
// way to build very large synthetic tables without a server. Set cfg.Now:
// with the default (the current time) two calls build different chains.
func Generate(cfg Config, yield func(chain.Tx) bool) {
	cfg = cfg.withDefaults()
	g := newGenerator(cfg)
	g.history(&streamSink{g: g, yield: yield})
}

// describe is a short human summary used in logs.
func describe(t Tip) string {
	return fmt.Sprintf("tip height %d (burn %d, %s), %d blocks, %d txs",
		t.Height, t.BurnHeight, t.BlockTime.Format(time.RFC3339), t.Blocks, t.TxCount)
}
