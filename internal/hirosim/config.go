package hirosim

import (
	"time"
)

// Config fixes the synthetic chain. The zero value is usable: every zero
// field takes the default documented on it.
type Config struct {
	// Seed makes everything deterministic: the same Config gives the same
	// chain, byte for byte.
	Seed int64
	// Now is the chain tip time (the last block is at or before it).
	// Default: time.Now() at New.
	Now time.Time
	// History is how far before Now the chain starts. Default: 7 days.
	History time.Duration

	// StartHeight is the height of the first Stacks block. Default 3,000,000.
	StartHeight int64
	// StartBurnHeight is the height of the first burn block. Default 900,000.
	StartBurnHeight int64

	// BlockInterval is the mean gap between Stacks block opportunities.
	// A block with no transaction to mine is skipped, so with the default
	// density about half are. Default 5s.
	BlockInterval time.Duration
	// BurnInterval is the mean gap between burn (Bitcoin) blocks. Default 10m.
	BurnInterval time.Duration

	// TxPerBlock is the mean number of user transactions (everything but
	// tenure_change and coinbase) per Stacks block. Default 1.
	TxPerBlock float64
	// TxPerTenure, when > 0, sets the density per tenure instead and
	// overrides TxPerBlock.
	TxPerTenure float64
	// NewWalletRate is the share of user transactions sent by a wallet never
	// seen before. Default 0.08.
	NewWalletRate float64

	// PlausibleFees replaces the rare fee and transfer amount beyond 2^53
	// µSTX (which tests of exact arithmetic want, but which exceed the
	// whole STX supply of about 1.8e15 µSTX) by high but real-looking ones:
	// fees of 1–51 STX, transfers of 0.1–5.1 M STX, for demos whose value
	// charts should look like the chain's.
	PlausibleFees bool

	// MaxAmount, when > 0, caps the amounts and fees beyond 2^53 below it:
	// math.MaxInt64 gives a chain a stacks-blockchain-api PostgreSQL
	// database can hold (its µSTX columns are bigint), as the real chain's
	// are (the whole supply is under 2^51). 0 keeps amounts up to 2^64-1.
	MaxAmount uint64
	// Hostile makes memos, contract names and function names carry HTML and
	// quotes (<script>, onerror=, "…'), to test escaping downstream.
	Hostile bool

	// PriceDays is how many days of daily STX/USD prices exist before Now.
	// Default 800.
	PriceDays int
	// PriceGapRate is the share of days CoinGecko leaves out (chosen
	// deterministically). Default 0.
	PriceGapRate float64
	// PriceGaps lists extra days ("2006-01-02") CoinGecko leaves out.
	PriceGaps []string

	// Clock is the wall clock used for live growth timestamps and the rate
	// limit windows. Default time.Now. Tests inject a fake clock to make
	// rate-limit windows deterministic.
	Clock func() time.Time

	// ServerVersion is reported by /extended and in X-API-Version.
	// Default "v9.0.2 (master:759c4a58)".
	ServerVersion string
}

// withDefaults fills zero fields; Now is truncated to whole seconds.
func (c Config) withDefaults() Config {
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	c.Now = c.Now.UTC().Truncate(time.Second)
	if c.History <= 0 {
		c.History = 7 * 24 * time.Hour
	}
	if c.StartHeight <= 0 {
		c.StartHeight = 3_000_000
	}
	if c.StartBurnHeight <= 0 {
		c.StartBurnHeight = 900_000
	}
	if c.BlockInterval <= 0 {
		c.BlockInterval = 5 * time.Second
	}
	if c.BlockInterval < time.Second {
		c.BlockInterval = time.Second
	}
	if c.BurnInterval <= 0 {
		c.BurnInterval = 10 * time.Minute
	}
	if c.BurnInterval < time.Minute {
		c.BurnInterval = time.Minute
	}
	if c.TxPerBlock <= 0 {
		c.TxPerBlock = 1
	}
	if c.TxPerTenure > 0 {
		blocksPerTenure := float64(c.BurnInterval) / float64(c.BlockInterval)
		c.TxPerBlock = c.TxPerTenure / blocksPerTenure
	}
	if c.NewWalletRate <= 0 {
		c.NewWalletRate = 0.08
	}
	if c.NewWalletRate > 1 {
		c.NewWalletRate = 1
	}
	if c.PriceDays <= 0 {
		c.PriceDays = 800
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.ServerVersion == "" {
		c.ServerVersion = "v9.0.2 (master:759c4a58)"
	}
	return c
}

// TruncateMode says how a truncated body is cut off.
type TruncateMode int

const (
	// TruncateMixed alternates between the two modes below.
	TruncateMixed TruncateMode = iota
	// TruncateWithLength sends a Content-Length promising the full body,
	// then closes the connection half way (the client sees an unexpected EOF).
	TruncateWithLength
	// TruncateChunked sends no Content-Length and ends the (chunked) body
	// cleanly half way: the HTTP exchange succeeds, the JSON does not parse.
	TruncateChunked
)

// Faults are the run-time switches of the simulator. SetFaults replaces them
// atomically; the zero value is a fast, unlimited, faultless API.
type Faults struct {
	// Latency is added to every response; LatencyJitter adds up to that much
	// more, uniformly at random.
	Latency       time.Duration
	LatencyJitter time.Duration

	// PerMinute is the fixed-window requests/minute limit for requests
	// without x-api-key, PerMinuteKeyed for requests with one (like 50 vs
	// 500); PerSecond applies to both. 0 means unlimited (the headers then
	// report a large nominal limit). Over a limit the answer is 429 with
	// retry-after. Windows are aligned to the Config.Clock minute/second.
	PerMinute      int
	PerMinuteKeyed int
	PerSecond      int
	// MonthLimit is the monthly quota (0: none, a large nominal value is
	// reported). MonthUsed is how much of it is used when SetFaults is
	// called; every request then counts. At 0 remaining every request gets
	// 429 with x-ratelimit-remaining-stacks-month: 0.
	MonthLimit int64
	MonthUsed  int64

	// Rate429 is the share of requests answered 429 at random, with
	// retry-after RetryAfter (default 1s, rounded up to whole seconds).
	Rate429    float64
	RetryAfter time.Duration
	// Rate5xx is the share of requests answered 500/502/503/504 at random.
	Rate5xx float64
	// RateTruncate is the share of 200 responses whose body is cut off.
	RateTruncate float64
	TruncateMode TruncateMode
	// RateSlow is the share of requests delayed by SlowDelay (default 35s,
	// longer than a usual client timeout) before anything is sent.
	RateSlow  float64
	SlowDelay time.Duration

	// GrowEvery > 0 runs a goroutine that appends GrowBlocks (default 1)
	// Stacks blocks every GrowEvery, stamped with the wall clock, until the
	// simulator is closed or GrowEvery is set back to 0.
	GrowEvery  time.Duration
	GrowBlocks int
	// GrowTenureBlocks > 0 starts a new tenure (a new burn block) after that
	// many grown blocks; otherwise a new tenure starts when BurnInterval of
	// wall time has passed since the last one. Also used by Sim.Grow.
	GrowTenureBlocks int

	// V1Gone makes /extended/v1/tx answer 410 Gone (the planned sunset).
	V1Gone bool
	// V3Absent makes every /extended/v3 route 404, like a server before v9.
	V3Absent bool

	// PriceFaults applies the random faults (latency, 429, 5xx, truncation,
	// slow) to the CoinGecko routes too. Rate limits never apply to them.
	PriceFaults bool
}

// Tip describes the chain tip.
type Tip struct {
	Height     int64
	Hash       string // block_hash, 0x-prefixed
	IndexHash  string // index_block_hash, 0x-prefixed
	BurnHeight int64
	BurnTime   time.Time // burn_block_time of the tip's tenure
	BlockTime  time.Time
	TxCount    int64 // canonical transactions in the simulated chain
	Blocks     int64 // Stacks blocks in the simulated chain
}

// Stats counts what the server did since New.
type Stats struct {
	Requests int64            // every request received
	ByRoute  map[string]int64 // per route pattern, e.g. "/extended/v1/tx"
	// Requested counts every request per "path?sorted-query" key; Served
	// counts those answered 2xx with a complete body. A key served more than
	// once is a page fetched twice.
	Requested map[string]int64
	Served    map[string]int64

	Status429 int64 // rate limits, monthly quota and random 429s
	Status5xx int64 // random 5xx
	Truncated int64 // bodies cut off
	Gone410   int64 // v1 sunset answers
	Slow      int64 // responses delayed by SlowDelay

	SawAPIKey  bool   // any request carried x-api-key
	LastAPIKey string // the last x-api-key value seen
}

// ServedTwice lists the keys of Served with a count above one, i.e. pages
// that were fetched successfully more than once.
func (st Stats) ServedTwice() []string {
	var keys []string
	for k, n := range st.Served {
		if n > 1 {
			keys = append(keys, k)
		}
	}
	return keys
}
