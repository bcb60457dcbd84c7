package hiro

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Window is a closed range of burn_block_time, both ends inclusive, in unix
// seconds: exactly what start_time/end_time filter on.
type Window = chain.Span

// TxPageQuery is the query of one page of a closed window, oldest first.
// Oldest-first matters while the window is still growing: transactions that
// arrive during the walk land at the end and do not shift earlier offsets.
func TxPageQuery(w Window, offset int64) url.Values {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(PageLimit))
	q.Set("offset", strconv.FormatInt(offset, 10))
	q.Set("start_time", strconv.FormatInt(w.Start, 10))
	q.Set("end_time", strconv.FormatInt(w.End, 10))
	q.Set("order", "asc")
	q.Set("exclude_function_args", "true")
	return q
}

// TxPage fetches one page of a window from GET /extended/v1/tx and returns the
// decoded page with the exact body (for the raw cache).
func (c *Client) TxPage(ctx context.Context, w Window, offset int64) (TxPage, []byte, error) {
	var page TxPage
	body, err := c.Get(ctx, "/extended/v1/tx", TxPageQuery(w, offset), func(b []byte) error {
		p, err := DecodeTxPage(b)
		if err != nil {
			return err
		}
		if p.Offset != offset {
			return fmt.Errorf("%w: asked for offset %d, got %d", ErrMalformed, offset, p.Offset)
		}
		page = p
		return nil
	})
	if err != nil {
		return TxPage{}, nil, fmt.Errorf("window %s offset %d: %w", w, offset, err)
	}
	return page, body, nil
}

// Tip is what the server says about the newest block.
type Tip struct {
	Height        int64
	BurnHeight    int64
	BurnBlockTime time.Time // the tenure's Bitcoin block time
	BlockTime     time.Time
	// Blocks is the number of canonical blocks (the total of
	// /extended/v2/blocks), 0 when unknown.
	Blocks int64
}

// FirstHeight is the height of the chain's first block as the block count
// says (Height − Blocks + 1, never below 0); ok is false when the count is
// unknown.
func (t Tip) FirstHeight() (height int64, ok bool) {
	if t.Blocks <= 0 {
		return 0, false
	}
	return max(t.Height-t.Blocks+1, 0), true
}

// ChainTip reads the newest Stacks block. It prefers /extended/v2/blocks,
// whose burn_block_time is the tenure time every transaction of the tip
// carries, and falls back to the newest burn block for older servers.
func (c *Client) ChainTip(ctx context.Context) (Tip, error) {
	var blocks struct {
		Total   int64 `json:"total"`
		Results []struct {
			Height          int64 `json:"height"`
			BurnBlockHeight int64 `json:"burn_block_height"`
			BurnBlockTime   int64 `json:"burn_block_time"`
			BlockTime       int64 `json:"block_time"`
		} `json:"results"`
	}
	q := url.Values{"limit": {"1"}}
	_, err := c.Get(ctx, "/extended/v2/blocks", q, func(b []byte) error {
		if err := decodeJSON(b, &blocks); err != nil || len(blocks.Results) == 0 || blocks.Results[0].BurnBlockTime == 0 {
			return fmt.Errorf("%w: /extended/v2/blocks has no newest block", ErrMalformed)
		}
		return nil
	})
	if err == nil {
		r := blocks.Results[0]
		return Tip{Height: r.Height, BurnHeight: r.BurnBlockHeight, BurnBlockTime: time.Unix(r.BurnBlockTime, 0).UTC(),
			BlockTime: time.Unix(r.BlockTime, 0).UTC(), Blocks: blocks.Total}, nil
	}
	// Callers say that they read the tip; the error names the request.
	// A refused key is refused by the fallback too.
	var se *StatusError
	if (!errors.As(err, &se) && !errors.Is(err, ErrGone)) || (se != nil && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden)) {
		return Tip{}, err
	}
	var burn struct {
		Results []struct {
			BurnBlockHeight int64 `json:"burn_block_height"`
			BurnBlockTime   int64 `json:"burn_block_time"`
		} `json:"results"`
	}
	if _, err2 := c.Get(ctx, "/extended/v2/burn-blocks", q, func(b []byte) error {
		if err := decodeJSON(b, &burn); err != nil || len(burn.Results) == 0 || burn.Results[0].BurnBlockTime == 0 {
			return fmt.Errorf("%w: /extended/v2/burn-blocks has no newest burn block", ErrMalformed)
		}
		return nil
	}); err2 != nil {
		return Tip{}, fmt.Errorf("%v; then %w", err, err2)
	}
	r := burn.Results[0]
	t := time.Unix(r.BurnBlockTime, 0).UTC()
	return Tip{BurnHeight: r.BurnBlockHeight, BurnBlockTime: t, BlockTime: t}, nil
}
