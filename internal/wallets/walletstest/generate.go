// Package walletstest is test support for the dashboard packages: a small
// deterministic generator of Stacks-shaped transactions, a bulk loader into a
// scratch DuckDB database, and an independent Go implementation of the
// wallet metrics that tests compare the SQL against.
//
// It does not import the DuckDB driver (only tests may); callers blank-import
// github.com/duckdb/duckdb-go/v2 in their _test.go files before NewDB.
package walletstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Config shapes a synthetic chain. The same Config always yields the same
// transactions.
type Config struct {
	Seed    uint64
	Start   time.Time // first UTC day (truncated to midnight)
	Days    int       // days from Start, the last one possibly partial
	Wallets int       // wallet population (more are born late than early)
	// LastDayHours limits activity on the final day to its first hours
	// (0 = the whole day), to model a partial "today".
	LastDayHours int
	// Hostile puts HTML/JS into contract ids, function names and memos.
	Hostile bool
	// PreexistingShare is the share of wallets that were active before
	// Start (their first tx in the data has nonce > 0).
	PreexistingShare float64
}

// Small is a test-sized chain: about 150 days, 1.5k wallets, ~25k rows.
func Small(seed uint64) Config {
	return Config{
		Seed: seed, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Days: 150,
		Wallets: 1500, LastDayHours: 9, PreexistingShare: 0.1,
	}
}

const (
	blockInterval   = 5 * time.Minute // Stacks block every 5 min (coarse, to keep tests small)
	blocksPerTenure = 2               // a tenure (burn block) every 10 min
	c32             = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

// Hostile strings that must never reach the page unescaped.
const (
	HostileContractID = `SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE.<script>alert("cid")</script>`
	HostileFunction   = `"><img src=x onerror=alert('fn')>`
	HostileMemo       = `</title><script>alert('memo')</script>`
)

var (
	normalContracts = []string{
		"SP2C2YFP12AJZB4MABJBAJ55XECVS7E4PMMZ89YZR.amm-swap-pool-v1-1",
		"SP000000000000000000002Q6VF78.pox-4",
		"SP1Y5YSTAHZ88XYK1VPDH24GY0HPX5J4JECTMY4A1.univ2-router",
		"SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9.alex-vault",
		"SP2PABAF9FTAJYNFZH93XENAJ8FVY99RRM50D2JG9.nft-marketplace",
		"SPQC38PW542EQJ5M11CR25P7BS1CA6QT4TBXGB3M.stx-stacking-dao",
	}
	functions = []string{"swap-x-for-y", "stack-stx", "transfer", "claim", "list-item", "deposit"}
)

func address(r *rand.Rand, prefix string) string {
	b := make([]byte, 0, 41)
	b = append(b, prefix...)
	for len(b) < 41 {
		b = append(b, c32[r.IntN(len(c32))])
	}
	return string(b)
}

// pareto draws from a Pareto distribution with minimum xm and shape alpha:
// the heavy tail of per-wallet activity.
func pareto(r *rand.Rand, xm, alpha float64) float64 {
	return xm / math.Pow(1-r.Float64(), 1/alpha)
}

type walletModel struct {
	addr      string
	birth     int     // first active day index
	lifetime  int     // days it keeps being active
	pActive   float64 // chance of activity on a day of its lifetime
	intensity float64 // mean txs on an active day
	nonce     int64
}

type event struct {
	at     time.Time
	wallet int
	seq    int
}

// Generate returns the chain's transactions in chain order (block height,
// tx index), including one tenure_change and one coinbase per tenure.
func Generate(cfg Config) []chain.Tx {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	start := time.Date(cfg.Start.Year(), cfg.Start.Month(), cfg.Start.Day(), 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, cfg.Days) // exclusive
	if cfg.LastDayHours > 0 {
		end = start.AddDate(0, 0, cfg.Days-1).Add(time.Duration(cfg.LastDayHours) * time.Hour)
	}

	ws := make([]walletModel, cfg.Wallets)
	for i := range ws {
		w := &ws[i]
		w.addr = address(r, []string{"SP", "SP", "SP", "SM"}[r.IntN(4)])
		// sqrt(u) skews births late: a growing population.
		w.birth = int(float64(cfg.Days) * math.Sqrt(r.Float64()))
		w.lifetime = int(pareto(r, 3, 0.8))
		w.pActive = 0.05 + 0.5*r.Float64()*r.Float64()
		w.intensity = pareto(r, 1, 1.6)
		if r.Float64() < cfg.PreexistingShare {
			w.birth = r.IntN(max(1, cfg.Days/10))
			w.nonce = int64(1 + r.IntN(50))
		}
	}
	receivers := make([]string, cfg.Wallets/3+1)
	for i := range receivers {
		receivers[i] = address(r, "SP")
	}
	contracts := normalContracts
	fns := functions
	if cfg.Hostile {
		contracts = append([]string{HostileContractID}, contracts...)
		fns = append([]string{HostileFunction}, fns...)
	}

	var evs []event
	for i := range ws {
		w := &ws[i]
		for d := w.birth; d < cfg.Days && d <= w.birth+w.lifetime; d++ {
			if d != w.birth && r.Float64() >= w.pActive {
				continue
			}
			n := 1 + int(r.ExpFloat64()*(w.intensity-1+0.3))
			n = min(n, 200)
			day := start.AddDate(0, 0, d)
			for range n {
				at := day.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
				if !at.Before(end) {
					continue
				}
				evs = append(evs, event{at: at, wallet: i, seq: len(evs)})
			}
		}
	}
	sort.Slice(evs, func(a, b int) bool {
		if !evs[a].at.Equal(evs[b].at) {
			return evs[a].at.Before(evs[b].at)
		}
		return evs[a].seq < evs[b].seq
	})

	miners := []string{ws[0].addr, address(r, "SP"), address(r, "SP")}
	var out []chain.Tx
	txSeq := 0
	newTx := func(typ string, height int64, blockTime time.Time, tenureStart int64) chain.Tx {
		txSeq++
		return chain.Tx{
			TxID:            fmt.Sprintf("0x%064x", uint64(txSeq)*0x9e3779b97f4a7c15^cfg.Seed),
			TxType:          typ,
			TxStatus:        "success",
			BlockHeight:     height,
			BlockHash:       fmt.Sprintf("0x%064x", uint64(height)*0x2545f4914f6cdd1d),
			BlockTime:       blockTime,
			BurnBlockHeight: 800000 + tenureStart/blocksPerTenure,
			BurnBlockTime:   start.Add(time.Duration(tenureStart) * blockInterval),
			Canonical:       true,
		}
	}
	nBlocks := int64(end.Sub(start) / blockInterval)
	e := 0
	for h := int64(0); h <= nBlocks; h++ {
		bt := start.Add(time.Duration(h) * blockInterval)
		if !bt.Before(end) {
			break
		}
		tenureStart := h - h%blocksPerTenure
		idx := int64(0)
		if h == tenureStart {
			miner := miners[int(h/blocksPerTenure)%len(miners)]
			for _, typ := range []string{"tenure_change", "coinbase"} {
				tx := newTx(typ, h+1, bt, tenureStart)
				tx.TxIndex, tx.SenderAddress = idx, miner
				idx++
				out = append(out, tx)
			}
		}
		// User txs land in the first block at or after the moment they were
		// made, so block_time never precedes the event.
		for e < len(evs) && !evs[e].at.After(bt) {
			w := &ws[evs[e].wallet]
			e++
			tx := newTx("", h+1, bt, tenureStart)
			tx.TxIndex = idx
			idx++
			tx.SenderAddress = w.addr
			tx.Nonce = w.nonce
			w.nonce++
			tx.FeeRate = uint64(180 + pareto(r, 200, 1.3))
			switch u := r.Float64(); {
			case u < 0.88:
				tx.TxStatus = "success"
			case u < 0.96:
				tx.TxStatus = "abort_by_response"
			default:
				tx.TxStatus = "abort_by_post_condition"
			}
			if r.Float64() < 0.05 {
				tx.Sponsored, tx.SponsorAddress = true, miners[1]
			}
			switch u := r.Float64(); {
			case u < 0.55:
				tx.TxType = "token_transfer"
				switch v := r.Float64(); {
				case v < 0.65:
					tx.TokenTransferRecipientAddress = ws[r.IntN(len(ws))].addr
				case v < 0.92:
					tx.TokenTransferRecipientAddress = receivers[r.IntN(len(receivers))]
				default:
					tx.TokenTransferRecipientAddress = contracts[r.IntN(len(contracts))]
				}
				tx.TokenTransferAmount = uint64(pareto(r, 1e5, 0.9))
				if r.IntN(400) == 0 {
					tx.TokenTransferAmount = 1<<60 + uint64(r.Int64N(1<<40)) // beyond 2^53
				}
				tx.TokenTransferMemo = "0x"
				if cfg.Hostile && r.IntN(5) == 0 {
					tx.TokenTransferMemo = HostileMemo
				}
			case u < 0.95:
				tx.TxType = "contract_call"
				// A skewed pick: the first contract is the most popular.
				tx.ContractCallContractID = contracts[min(len(contracts)-1, int(r.ExpFloat64()*1.5))]
				tx.ContractCallFunctionName = fns[min(len(fns)-1, int(r.ExpFloat64()*1.5))]
			default:
				tx.TxType = "smart_contract"
				tx.SmartContractContractID = fmt.Sprintf("%s.contract-%d", w.addr, txSeq)
			}
			out = append(out, tx)
		}
	}
	return out
}
