package hiro

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// A run's first requests wait on one another: the tip, then the chain
// check and the newest transaction, then what those decide. The ones that
// do not depend on an answer can be sent with the very first request
// instead (Prefetch): each then costs its rate slot but no round trip of
// its own.

// prefetchMaxAge bounds how long a prefetched answer waits for the Get it
// was sent for: a run asks for it within its first seconds, and an answer
// that old no longer says what the server holds now.
const prefetchMaxAge = 30 * time.Second

// prefetched is the answer of a request sent before it was asked for.
type prefetched struct {
	done chan struct{} // closed when body and err are set
	sent time.Time
	body []byte
	err  error
}

// Prefetch sends GET path?query now, in the background, within the same
// rate budget as every request, and keeps the answer for the first Get of
// the same URL in the next 30 seconds, which then waits for it instead of
// asking again (a Get already under way is not joined). The answer is
// decoded by that Get: a body its decoder rejects as malformed is
// requested again there, like any bad page. The returned channel closes
// when the prefetch has its answer (or ctx ended it).
func (c *Client) Prefetch(ctx context.Context, path string, query url.Values) <-chan struct{} {
	target := c.target(path, query)
	p := &prefetched{done: make(chan struct{}), sent: time.Now()}
	c.preMu.Lock()
	if c.pre == nil {
		c.pre = map[string]*prefetched{}
	}
	if q, ok := c.pre[target]; ok {
		c.preMu.Unlock()
		return q.done
	}
	c.pre[target] = p
	c.preMu.Unlock()
	go func() {
		p.body, p.err = c.get(ctx, target, nil)
		close(p.done)
	}()
	return p.done
}

// takePrefetched removes and returns the prefetched answer for target, if
// one is fresh enough.
func (c *Client) takePrefetched(target string) *prefetched {
	c.preMu.Lock()
	defer c.preMu.Unlock()
	p := c.pre[target]
	if p == nil {
		return nil
	}
	delete(c.pre, target)
	if time.Since(p.sent) > prefetchMaxAge {
		return nil
	}
	return p
}

// fromPrefetch is Get's answer from a prefetched request: ok is false when
// Get must ask the server itself (the prefetch was cancelled, or its body
// is malformed).
func (c *Client) fromPrefetch(ctx context.Context, p *prefetched, decode func([]byte) error) (body []byte, ok bool, err error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	if p.err != nil {
		if errors.Is(p.err, context.Canceled) || errors.Is(p.err, context.DeadlineExceeded) {
			return nil, false, nil // the prefetch's context ended, not this Get's
		}
		return nil, true, p.err // what Get would have returned after its own retries
	}
	if decode != nil {
		if derr := decode(p.body); derr != nil {
			if !errors.Is(derr, ErrMalformed) {
				return nil, true, derr
			}
			c.Stats.Malformed.Add(1)
			return nil, false, nil
		}
	}
	return p.body, true, nil
}

// PrefetchNewestTx prefetches the request of NewestTxBurnTime.
func (c *Client) PrefetchNewestTx(ctx context.Context) <-chan struct{} {
	return c.Prefetch(ctx, v1TxPath, newestTxQuery())
}

// PrefetchV3Page prefetches the page of the v3 list V3Transactions reads
// at cursor ("" for the newest).
func (c *Client) PrefetchV3Page(ctx context.Context, cursor string) <-chan struct{} {
	return c.Prefetch(ctx, V3TransactionsPath, V3Query(cursor, PageLimit))
}

// PrefetchBlockHash prefetches the request of BlockHash(height).
func (c *Client) PrefetchBlockHash(ctx context.Context, height int64) <-chan struct{} {
	return c.Prefetch(ctx, blockPath(height), nil)
}

// PrefetchBlockAtDepth prefetches the request of BlockAtDepth(depth).
func (c *Client) PrefetchBlockAtDepth(ctx context.Context, depth int64) <-chan struct{} {
	return c.Prefetch(ctx, blocksPath, blockAtDepthQuery(depth))
}

func blockPath(height int64) string { return blocksPath + "/" + strconv.FormatInt(height, 10) }
