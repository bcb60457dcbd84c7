package hirosim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// checkChain verifies the invariants every simulated chain must keep, on
// its ground truth alone.
func checkChain(t *testing.T, txs []chain.Tx) {
	t.Helper()
	if len(txs) == 0 {
		t.Fatal("empty chain")
	}
	ids := map[string]bool{}
	nextNonce := map[string]int64{}
	var prev chain.Tx
	for i, x := range txs {
		if ids[x.TxID] {
			t.Fatalf("tx %s appears twice", x.TxID)
		}
		ids[x.TxID] = true
		if !x.Canonical {
			t.Fatalf("tx %s not canonical", x.TxID)
		}
		if x.BlockTime.Before(x.BurnBlockTime) {
			t.Fatalf("tx %s: block_time %s before burn_block_time %s", x.TxID, x.BlockTime, x.BurnBlockTime)
		}
		if x.BlockTime.Location() != time.UTC || x.BlockTime.Nanosecond() != 0 {
			t.Fatalf("tx %s: block_time %v not whole UTC seconds", x.TxID, x.BlockTime)
		}
		if i > 0 {
			sameBlock := x.BlockHeight == prev.BlockHeight
			switch {
			case sameBlock && (x.TxIndex != prev.TxIndex+1 || x.BlockHash != prev.BlockHash || !x.BlockTime.Equal(prev.BlockTime)):
				t.Fatalf("tx %s: block %d inconsistent (index %d after %d)", x.TxID, x.BlockHeight, x.TxIndex, prev.TxIndex)
			case !sameBlock && (x.BlockHeight != prev.BlockHeight+1 || x.TxIndex != 0):
				t.Fatalf("tx %s: height %d index %d after height %d (heights must be contiguous, blocks non-empty)", x.TxID, x.BlockHeight, x.TxIndex, prev.BlockHeight)
			case x.BlockTime.Before(prev.BlockTime):
				t.Fatalf("tx %s: block time goes backwards", x.TxID)
			case x.BurnBlockHeight == prev.BurnBlockHeight && !x.BurnBlockTime.Equal(prev.BurnBlockTime):
				t.Fatalf("tx %s: tenure %d has two burn times", x.TxID, x.BurnBlockHeight)
			case x.BurnBlockHeight != prev.BurnBlockHeight && x.BurnBlockHeight != prev.BurnBlockHeight+1:
				t.Fatalf("tx %s: burn height jumps from %d to %d", x.TxID, prev.BurnBlockHeight, x.BurnBlockHeight)
			}
		}
		newTenure := i == 0 || x.BurnBlockHeight != prev.BurnBlockHeight
		if newTenure && x.TxType != "tenure_change" {
			t.Fatalf("tenure %d starts with %s, want tenure_change", x.BurnBlockHeight, x.TxType)
		}
		if (x.TxType == "tenure_change") != (newTenure && x.TxIndex == 0) {
			t.Fatalf("tx %s: tenure_change at index %d (new tenure %v)", x.TxID, x.TxIndex, newTenure)
		}
		if x.TxType == "coinbase" && (x.TxIndex != 1 || prev.TxType != "tenure_change") {
			t.Fatalf("tx %s: coinbase at index %d after %s", x.TxID, x.TxIndex, prev.TxType)
		}
		// Nonces start at 0 and increase by one per sender, in chain order.
		if n := nextNonce[x.SenderAddress]; x.Nonce != n {
			t.Fatalf("tx %s: sender %s nonce %d, want %d", x.TxID, x.SenderAddress, x.Nonce, n)
		}
		nextNonce[x.SenderAddress]++
		for _, p := range []string{x.SenderAddress, x.SponsorAddress, x.TokenTransferRecipientAddress,
			x.ContractCallContractID, x.SmartContractContractID} {
			if p != "" && !ValidPrincipal(p) {
				t.Fatalf("tx %s: principal %q is not valid c32check", x.TxID, p)
			}
		}
		if x.Sponsored != (x.SponsorAddress != "") {
			t.Fatalf("tx %s: sponsored %v with sponsor %q", x.TxID, x.Sponsored, x.SponsorAddress)
		}
		if x.TxType == "token_transfer" && (len(x.TokenTransferMemo) != 2+68 || !strings.HasPrefix(x.TokenTransferMemo, "0x")) {
			t.Fatalf("tx %s: memo %q is not 34 bytes of hex", x.TxID, x.TokenTransferMemo)
		}
		prev = x
	}
}

func TestChainInvariants(t *testing.T) {
	cfg := Config{Seed: 7, Now: testNow, History: 36 * time.Hour, Hostile: true}
	s := New(cfg)
	all := s.All()
	checkChain(t, all)

	// The variety the backfill and dashboards must cope with.
	var types = map[string]int{}
	var statuses = map[string]int{}
	var big, sponsored, toContract, hostile int
	for _, x := range all {
		types[x.TxType]++
		statuses[x.TxStatus]++
		if x.TokenTransferAmount > 1<<53 || x.FeeRate > 1<<53 {
			big++
		}
		if x.Sponsored {
			sponsored++
		}
		if strings.Contains(x.TokenTransferRecipientAddress, ".") {
			toContract++
		}
		if strings.ContainsAny(x.ContractCallFunctionName+x.ContractCallContractID+x.SmartContractContractID, `<>"'`) {
			hostile++
		}
	}
	for _, typ := range []string{"token_transfer", "contract_call", "smart_contract", "coinbase", "tenure_change"} {
		if types[typ] == 0 {
			t.Errorf("no %s transactions", typ)
		}
	}
	for _, st := range []string{"success", "abort_by_response", "abort_by_post_condition"} {
		if statuses[st] == 0 {
			t.Errorf("no %s transactions", st)
		}
	}
	if big == 0 || sponsored == 0 || toContract == 0 || hostile == 0 {
		t.Errorf("big amounts %d, sponsored %d, transfers to contracts %d, hostile names %d: want all > 0",
			big, sponsored, toContract, hostile)
	}

	// Burn blocks: about every BurnInterval, heights +1, and sometimes
	// stamped before their parent, never below the median time past.
	s.mu.RLock()
	defer s.mu.RUnlock()
	backwards := 0
	for i := 1; i < len(s.burns); i++ {
		if s.burns[i].height != s.burns[i-1].height+1 {
			t.Fatalf("burn heights %d then %d", s.burns[i-1].height, s.burns[i].height)
		}
		if s.burns[i].time < s.burns[i-1].time {
			backwards++
		}
		if s.burns[i].time < s.runMax[i]-maxBurnSkew {
			t.Fatalf("burn %d stamped %ds below the running max", s.burns[i].height, s.runMax[i]-s.burns[i].time)
		}
		if i >= 11 {
			window := make([]int64, 0, 11)
			for j := i - 11; j < i; j++ {
				window = append(window, s.burns[j].time)
			}
			sortInt64(window)
			if s.burns[i].time <= window[5] {
				t.Fatalf("burn %d stamp %d not above the median time past %d", s.burns[i].height, s.burns[i].time, window[5])
			}
		}
	}
	if backwards == 0 {
		t.Error("no burn block stamped earlier than its parent")
	}
	perDay := float64(len(s.burns)) / 1.5
	if perDay < 100 || perDay > 190 {
		t.Errorf("%.0f burn blocks per day, want about 144", perDay)
	}
	tip := s.tipLocked()
	if tip.BlockTime.After(testNow) || testNow.Sub(tip.BlockTime) > time.Minute {
		t.Errorf("tip at %s, want just before %s", tip.BlockTime, testNow)
	}
}

func sortInt64(a []int64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func TestDeterminism(t *testing.T) {
	cfg := smallConfig(42)
	a, b := New(cfg).All(), New(cfg).All()
	if d := diffTxs(a, b); d != "" {
		t.Fatalf("same seed, different chains: %s", d)
	}
	var streamed []chain.Tx
	Generate(cfg, func(x chain.Tx) bool { streamed = append(streamed, x); return true })
	if d := diffTxs(streamed, a); d != "" {
		t.Fatalf("Generate differs from New(cfg).All(): %s", d)
	}
	c := New(smallConfig(43)).All()
	if c[0].TxID == a[0].TxID {
		t.Fatal("different seeds gave the same first tx")
	}
	// Early stop.
	n := 0
	Generate(cfg, func(chain.Tx) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("Generate went on after yield returned false: %d calls", n)
	}
}

func TestDensityKnobs(t *testing.T) {
	base := Config{Seed: 3, Now: testNow, History: 12 * time.Hour}
	count := func(c Config) int {
		n := 0
		Generate(c, func(x chain.Tx) bool {
			if x.TxType != "coinbase" && x.TxType != "tenure_change" {
				n++
			}
			return true
		})
		return n
	}
	lo := base
	lo.TxPerBlock = 0.5
	hi := base
	hi.TxPerBlock = 4
	nLo, nHi := count(lo), count(hi)
	// 12 h of 5 s opportunities is 8640; expect ~4320 and ~34560.
	if r := float64(nHi) / float64(nLo); r < 5 || r > 11 {
		t.Errorf("TxPerBlock 4 vs 0.5 gave %d vs %d user txs (ratio %.1f), want about 8", nHi, nLo, r)
	}
	perTenure := base
	perTenure.TxPerTenure = 30
	n := count(perTenure)
	tenures := 12 * 60 / 10.0
	if got := float64(n) / tenures; math.Abs(got-30) > 10 {
		t.Errorf("TxPerTenure 30 gave %.1f user txs per tenure", got)
	}
}

func TestGroundTruthMatchesBruteForce(t *testing.T) {
	s := New(Config{Seed: 11, Now: testNow, History: 24 * time.Hour})
	all := s.All()
	for _, w := range []struct{ from, to time.Time }{
		{testNow.Add(-20 * time.Hour), testNow.Add(-10 * time.Hour)},
		{testNow.Add(-30 * time.Hour), testNow.Add(-23 * time.Hour)},
		{testNow.Add(-3 * time.Hour), testNow.Add(time.Hour)},
		{all[500].BurnBlockTime, all[500].BurnBlockTime}, // a single instant
	} {
		var want []chain.Tx
		for _, x := range all {
			if !x.BurnBlockTime.Before(w.from) && !x.BurnBlockTime.After(w.to) {
				want = append(want, x)
			}
		}
		if d := diffTxs(s.GroundTruth(w.from, w.to), want); d != "" || len(want) == 0 {
			t.Errorf("GroundTruth(%s, %s): %s (want %d rows)", w.from, w.to, d, len(want))
		}
	}
}
