package backfill

import (
	"context"

	"github.com/stxwallets/walletcache/internal/hiro"
)

// v1Source pages GET /extended/v1/tx by closed burn_block_time windows.
type v1Source struct{ c *hiro.Client }

// NewV1Source adapts a Hiro client to Source.
func NewV1Source(c *hiro.Client) Source { return v1Source{c} }

func (s v1Source) Name() string { return "v1" }

func (s v1Source) Page(ctx context.Context, w hiro.Window, off int64) (hiro.TxPage, []byte, error) {
	return s.c.TxPage(ctx, w, off)
}

func (s v1Source) Tip(ctx context.Context) (hiro.Tip, error) { return s.c.ChainTip(ctx) }

func (s v1Source) Counters() Counters {
	return Counters{
		Requests:  s.c.Stats.Requests.Load(),
		Retries:   s.c.Stats.Retries.Load(),
		Throttled: s.c.Stats.Throttled.Load(),
	}
}
