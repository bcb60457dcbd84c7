package backfill

import (
	"context"
	"fmt"
	"strings"

	"github.com/stxwallets/walletcache/internal/hiro"
)

// CursorSource serves the keyset-paged transaction list of API v9+
// (GET /extended/v3/transactions) and the lookups the v3 plan needs.
type CursorSource interface {
	// Name is the API flavour ("v3").
	Name() string
	// Probe tells whether the server serves the list at all.
	Probe(ctx context.Context) (bool, error)
	// Transactions returns one page at or below cursor ("" for the newest),
	// newest first, with the exact response body for the raw cache.
	Transactions(ctx context.Context, cursor string) (hiro.V3Page, []byte, error)
	// BlockAtTime returns the newest block whose block_time is at or before
	// unix, or hiro.ErrBlockNotFound.
	BlockAtTime(ctx context.Context, unix int64) (hiro.BlockRef, error)
	// Tip reads the newest block.
	Tip(ctx context.Context) (hiro.Tip, error)
	// Counters reports requests sent so far.
	Counters() Counters
}

// v3Source pages GET /extended/v3/transactions along its keyset cursor.
type v3Source struct{ c *hiro.Client }

// NewV3Source adapts a Hiro client to CursorSource. When the run also has
// a v1 Source, both must share the client: the rate budget is one, and so
// are the request counters.
func NewV3Source(c *hiro.Client) CursorSource { return v3Source{c} }

func (s v3Source) Name() string                            { return "v3" }
func (s v3Source) Probe(ctx context.Context) (bool, error) { return s.c.ProbeV3(ctx) }
func (s v3Source) Transactions(ctx context.Context, cursor string) (hiro.V3Page, []byte, error) {
	return s.c.V3Transactions(ctx, cursor)
}
func (s v3Source) BlockAtTime(ctx context.Context, unix int64) (hiro.BlockRef, error) {
	return s.c.BlockAtTime(ctx, unix)
}
func (s v3Source) Tip(ctx context.Context) (hiro.Tip, error) { return s.c.ChainTip(ctx) }
func (s v3Source) Counters() Counters {
	return Counters{
		Requests:  s.c.Stats.Requests.Load(),
		Retries:   s.c.Stats.Retries.Load(),
		Throttled: s.c.Stats.Throttled.Load(),
	}
}

// V3CacheKey names the raw cache file of the v3 page at cursor: a page of
// final rows never changes, so its cursor identifies it ("" — the tip — is
// never cached).
func V3CacheKey(cursor string) string {
	return fmt.Sprintf("v3_%s_l%d", strings.ReplaceAll(cursor, ":", "-"), hiro.PageLimit)
}
