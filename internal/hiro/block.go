package hiro

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// BlockHash returns the hash of the canonical block at height (GET
// /extended/v2/blocks/{height}); ErrBlockNotFound when the server has no
// such block. The backfill uses it to tell which chain a server serves.
func (c *Client) BlockHash(ctx context.Context, height int64) (string, error) {
	var b struct {
		Height *int64 `json:"height"`
		Hash   string `json:"hash"`
	}
	path := "/extended/v2/blocks/" + strconv.FormatInt(height, 10)
	_, err := c.Get(ctx, path, nil, func(body []byte) error {
		if err := decodeJSON(body, &b); err != nil || b.Height == nil || *b.Height != height || !isHash32(b.Hash) {
			return fmt.Errorf("%w: %s is not block %d with a 32-byte hash", ErrMalformed, path, height)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("block %d: %w", height, classify404(err, "block"))
	}
	return b.Hash, nil
}

// NewestTxBurnTime returns the burn_block_time of the newest transaction
// GET /extended/v1/tx serves (ok is false for an empty chain). The backfill
// believes a tip no further than the data the server actually serves.
func (c *Client) NewestTxBurnTime(ctx context.Context) (t time.Time, ok bool, err error) {
	var page TxPage
	_, err = c.Get(ctx, "/extended/v1/tx", url.Values{"limit": {"1"}, "exclude_function_args": {"true"}}, func(b []byte) error {
		p, err := DecodeTxPage(b)
		page = p
		return err
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("newest transaction: %w", err)
	}
	if len(page.Txs) == 0 {
		return time.Time{}, false, nil
	}
	return page.Txs[0].BurnBlockTime, true, nil
}

// TxTotal returns how many transactions GET /extended/v1/tx says the
// window holds, with one row-sized request: the backfill re-checks the
// totals of recently finalised windows this way.
func (c *Client) TxTotal(ctx context.Context, w Window) (int64, error) {
	q := TxPageQuery(w, 0)
	q.Set("limit", "1")
	var total int64
	_, err := c.Get(ctx, "/extended/v1/tx", q, func(b []byte) error {
		p, err := DecodeTxPage(b)
		total = p.Total
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("total of window %s: %w", w, err)
	}
	return total, nil
}
