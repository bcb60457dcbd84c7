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
	path := blockPath(height)
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

// Paths of the block and transaction lists.
const (
	blocksPath = "/extended/v2/blocks"
	v1TxPath   = "/extended/v1/tx"
)

// newestTxQuery asks /extended/v1/tx for its newest transaction alone.
func newestTxQuery() url.Values {
	return url.Values{"limit": {"1"}, "exclude_function_args": {"true"}}
}

// blockAtDepthQuery asks /extended/v2/blocks, newest first, for the one
// block depth below the newest.
func blockAtDepthQuery(depth int64) url.Values {
	return url.Values{"limit": {"1"}, "offset": {strconv.FormatInt(depth, 10)}}
}

// BlockAtDepth returns the height and hash of the canonical block depth
// blocks below the newest one (GET /extended/v2/blocks?offset=depth), with
// one request that needs no tip first; ErrBlockNotFound when the chain has
// no block that deep. The backfill records such a block to tell later
// which chain a server serves. A block whose height cannot be depth below
// the newest (the list's total says how many blocks there are) is a bad
// answer.
func (c *Client) BlockAtDepth(ctx context.Context, depth int64) (height int64, hash string, err error) {
	var list struct {
		Total   *int64 `json:"total"`
		Results []struct {
			Height *int64 `json:"height"`
			Hash   string `json:"hash"`
		} `json:"results"`
	}
	found := false
	_, err = c.Get(ctx, blocksPath, blockAtDepthQuery(depth), func(body []byte) error {
		if err := decodeJSON(body, &list); err != nil || list.Total == nil || *list.Total < 0 || len(list.Results) > 1 {
			return fmt.Errorf("%w: %s is not a list of blocks", ErrMalformed, blocksPath)
		}
		found = len(list.Results) == 1
		switch {
		case !found && *list.Total > depth:
			return fmt.Errorf("%w: %s has %d blocks but none at offset %d", ErrMalformed, blocksPath, *list.Total, depth)
		case found && *list.Total <= depth:
			return fmt.Errorf("%w: %s has %d blocks and one at offset %d", ErrMalformed, blocksPath, *list.Total, depth)
		case found && (list.Results[0].Height == nil || *list.Results[0].Height < 0 || !isHash32(list.Results[0].Hash)):
			return fmt.Errorf("%w: %s at offset %d is not a block with a height and a 32-byte hash", ErrMalformed, blocksPath, depth)
		}
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("block %d below the newest: %w", depth, err)
	}
	if !found {
		return 0, "", fmt.Errorf("block %d below the newest: %w", depth, ErrBlockNotFound)
	}
	return *list.Results[0].Height, list.Results[0].Hash, nil
}

// NewestTxBurnTime returns the burn_block_time of the newest transaction
// GET /extended/v1/tx serves (ok is false for an empty chain). The backfill
// believes a tip no further than the data the server actually serves.
func (c *Client) NewestTxBurnTime(ctx context.Context) (t time.Time, ok bool, err error) {
	var page TxPage
	_, err = c.Get(ctx, v1TxPath, newestTxQuery(), func(b []byte) error {
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
	_, err := c.Get(ctx, v1TxPath, q, func(b []byte) error {
		p, err := DecodeTxPage(b)
		total = p.Total
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("total of window %s: %w", w, err)
	}
	return total, nil
}
