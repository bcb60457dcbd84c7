package hirosim

import (
	"testing"
	"time"
)

// With PlausibleFees no fee or transfer exceeds the real STX supply; without
// it the chain keeps amounts beyond 2^53 for tests of exact arithmetic.
func TestPlausibleAmountsStayWithinTheSupply(t *testing.T) {
	t.Parallel()
	const supply = 1_818_000_000_000_000 // µSTX, about 1.818 billion STX
	for _, plausible := range []bool{false, true} {
		s := New(Config{Seed: 7, History: 3 * 24 * time.Hour, BlockInterval: 20 * time.Second, TxPerBlock: 1, PlausibleFees: plausible})
		over := 0
		for _, x := range s.All() {
			if x.FeeRate > supply || x.TokenTransferAmount > supply {
				over++
			}
		}
		if plausible && over > 0 {
			t.Errorf("PlausibleFees: %d transactions move more than the supply", over)
		}
		if !plausible && over == 0 {
			t.Error("without PlausibleFees the chain should keep amounts beyond 2^53")
		}
	}
}
