package backfill

import (
	"testing"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
)

// A cached v3 page must be the page of the cursor it is kept under: rows,
// from the cursor's own row, or from at or below the top of its block.
func TestCachedPageFits(t *testing.T) {
	t.Parallel()
	at := func(current string, heights ...int64) hiro.V3Page {
		pg := hiro.V3Page{Current: current}
		for _, h := range heights {
			pg.Txs = append(pg.Txs, chain.Tx{BlockHeight: h})
		}
		return pg
	}
	for _, tt := range []struct {
		name   string
		pg     hiro.V3Page
		cursor string
		fits   bool
	}{
		{"a block's top", at("200:2147483647:5", 200, 199), "200:0:0", true},
		{"a block without transactions: the page starts below", at("198:2147483647:2", 198), "200:0:0", true},
		{"a row cursor's own page", at("150:2147483647:3", 150), "150:2147483647:3", true},
		{"no rows", at(""), "200:0:0", false},
		{"a page from above the block", at("260:2147483647:0", 260), "200:0:0", false},
		{"another row's page", at("150:2147483647:2", 150), "150:2147483647:3", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := cachedPageFits(tt.pg, tt.cursor); (err == nil) != tt.fits {
				t.Fatalf("cachedPageFits at %s: %v, want fits %v", tt.cursor, err, tt.fits)
			}
		})
	}
}
