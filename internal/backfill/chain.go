package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// anchorDepth is how far below the tip the block that names a chain is
// chosen: far deeper than any reorg, so its hash never changes.
const anchorDepth = 1000

// blockHasher is a source that can name the block at a height; a run
// checks with it that the server serves the chain the database and the raw
// cache were filled from.
type blockHasher interface {
	BlockHash(ctx context.Context, height int64) (string, error)
}

// depthBlocker is a blockHasher that can also name the block a depth below
// the newest with one request that needs no tip, so that the request can
// go out with the tip's (Warm).
type depthBlocker interface {
	BlockAtDepth(ctx context.Context, depth int64) (height int64, hash string, err error)
}

// chooseAnchor reads the block that will identify the chain: anchorDepth
// below the newest, or the chain's first block (first) when the chain is
// not that long. A block said to be that deep but above the tip, or below
// the chain's first block, cannot be: it is an error. A server that
// refuses the list's offset (a 4xx) is asked for the block at the tip's
// height less anchorDepth instead, as before the list was used.
func chooseAnchor(ctx context.Context, h blockHasher, tip hiro.Tip, first int64) (anchor, error) {
	if d, ok := h.(depthBlocker); ok {
		height, hash, err := d.BlockAtDepth(ctx, anchorDepth)
		var se *hiro.StatusError
		switch {
		case err == nil && (height > tip.Height || height < first):
			return anchor{}, fmt.Errorf("%w: the block %d below the newest is said to be at height %d, outside the chain's heights %d..%d",
				hiro.ErrMalformed, anchorDepth, height, first, tip.Height)
		case err == nil:
			return anchor{height, hash}, nil
		case errors.As(err, &se) && se.Status >= 400 && se.Status < 500:
		case !errors.Is(err, hiro.ErrBlockNotFound):
			return anchor{}, err
		}
	}
	a := anchor{height: max(tip.Height-anchorDepth, first)}
	var err error
	a.hash, err = h.BlockHash(ctx, a.height)
	return a, err
}

// Warm sends, with the first request of a run (the tip the caller reads
// before anything is opened), the requests the run will make first that do
// not depend on the tip: the block that identifies the chain (the one the
// raw cache recorded, or the one anchorDepth below the newest when it has
// none) and, for a source the policy fixes, the newest transaction (v1)
// or the newest page (v3). Their answers wait in the client for the run to
// ask (hiro.Client.Prefetch), so its start-up costs one round trip instead
// of two or three. Nothing is believed any sooner: the run checks every
// answer as it would have, in the same order. A cache whose anchor cannot
// be read is left to the run, which reports it. stop cancels what is still
// under way and waits for it: no prefetch outlives the run.
func Warm(ctx context.Context, c *hiro.Client, cache PageCache, api string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var sent []<-chan struct{}
	if k, ok := cache.(chainKeeper); ok {
		switch height, _, ok, err := k.ChainAnchor(); {
		case err == nil && ok:
			sent = append(sent, c.PrefetchBlockHash(ctx, height))
		case err == nil:
			sent = append(sent, c.PrefetchBlockAtDepth(ctx, anchorDepth))
		}
	}
	switch api {
	case SourceV1:
		sent = append(sent, c.PrefetchNewestTx(ctx))
	case SourceV3:
		sent = append(sent, c.PrefetchV3Page(ctx, ""))
	}
	return func() {
		cancel()
		for _, done := range sent {
			<-done
		}
	}
}

// chainKeeper is a raw cache that remembers which chain filled it.
type chainKeeper interface {
	ChainAnchor() (height int64, hash string, ok bool, err error)
	SetChainAnchor(height int64, hash string) error
}

// anchor is a block that identifies a chain.
type anchor struct {
	height int64
	hash   string
}

func (a anchor) String() string { return strconv.FormatInt(a.height, 10) + ":" + a.hash }

// ChainMismatchError is a server that serves another chain than the one
// the database or the raw cache holds: another network, another node, a
// simulator with another seed. Nothing was written.
type ChainMismatchError struct {
	Where  string // "database" or "raw cache"
	Height int64
	Want   string // the hash recorded
	Got    string // the hash the server has at Height ("" when it has no such block)
}

// Error names the recorded block and what the source has at its height.
func (e *ChainMismatchError) Error() string {
	got := "has no block there"
	if e.Got != "" {
		got = "has " + e.Got
	}
	return fmt.Sprintf("the server serves another chain than the one the %s holds: block %d is %s there, the server %s; "+
		"point HIRO_API_URL at the server of that chain, or use another paths.database and paths.raw_dir for this one", e.Where, e.Height, e.Want, got)
}

// ExitStatus makes another chain a bad-input exit (2): the configuration
// points two chains at one database.
func (e *ChainMismatchError) ExitStatus() int { return exitcode.BadInput }

// checkChain makes sure src serves the chain the database and the raw
// cache were filled from, and records the chain in both when they have
// none yet. A source that cannot name blocks (a test double) is trusted.
func (r *run) checkChain(ctx context.Context, src Source, tip hiro.Tip) error {
	h, ok := src.(blockHasher)
	if !ok {
		return nil
	}
	dbctx := context.WithoutCancel(ctx)
	var have []recorded
	if v, ok, err := r.cfg.Store.Meta(dbctx, store.MetaChainAnchor); err != nil {
		return err
	} else if ok {
		a, err := parseAnchor(v)
		if err != nil {
			return fmt.Errorf("the database's chain anchor %q: %w", v, err)
		}
		have = append(have, recorded{"database", a})
	}
	keeper, _ := r.cfg.Cache.(chainKeeper)
	if keeper != nil {
		height, hash, ok, err := keeper.ChainAnchor()
		if err != nil {
			return err
		}
		if ok {
			have = append(have, recorded{"raw cache", anchor{height, hash}})
		}
	}
	served := map[int64]string{} // one lookup per height
	for _, x := range have {
		got, asked := served[x.a.height]
		if !asked {
			var err error
			got, err = h.BlockHash(ctx, x.a.height)
			if errors.Is(err, hiro.ErrBlockNotFound) {
				got, err = "", nil
			}
			if err != nil {
				return fmt.Errorf("check which chain the server serves: %w", err)
			}
			served[x.a.height] = got
		}
		if got != x.a.hash {
			return &ChainMismatchError{Where: x.where, Height: x.a.height, Want: x.a.hash, Got: got}
		}
	}
	a := anchor{}
	if len(have) > 0 {
		a = have[0].a
	} else {
		first := int64(1)
		if h, ok := tip.FirstHeight(); ok {
			first = max(h, 1)
		}
		var err error
		if a, err = chooseAnchor(ctx, h, tip, first); err != nil {
			return fmt.Errorf("read the block that identifies the chain: %w", err)
		}
		r.log.Info("recorded the chain this database and raw cache hold", "block_height", a.height, "block_hash", a.hash)
	}
	if len(have) == 0 || have[0].where != "database" {
		if err := r.cfg.Store.SetMeta(dbctx, store.MetaChainAnchor, a.String()); err != nil {
			return err
		}
	}
	if keeper != nil && !hasWhere(have, "raw cache") {
		if err := keeper.SetChainAnchor(a.height, a.hash); err != nil {
			r.log.Warn("cannot record the chain in the raw cache; going on without it", "err", err)
		}
	}
	return nil
}

// checkSeedChain makes sure the seed holds the chain the API serves: the
// API's block at the height of the seed's anchor must have its hash.
func (r *run) checkSeedChain(ctx context.Context) error {
	s, ok := r.cfg.Seed.(*seedSource)
	h, can := r.sources.inUse.(blockHasher)
	if !ok || !can {
		return nil
	}
	a, err := s.anchor(ctx)
	if err != nil || a.Hash == "" {
		return err
	}
	got, err := h.BlockHash(ctx, a.Height)
	if errors.Is(err, hiro.ErrBlockNotFound) {
		got, err = "", nil
	}
	if err != nil {
		return fmt.Errorf("check which chain the seed holds: %w", err)
	}
	if got != a.Hash {
		return &ChainMismatchError{Where: s.Name() + " seed", Height: a.Height, Want: a.Hash, Got: got}
	}
	return nil
}

// recorded is an anchor and where it was recorded.
type recorded struct {
	where string
	a     anchor
}

func hasWhere(have []recorded, where string) bool {
	for _, x := range have {
		if x.where == where {
			return true
		}
	}
	return false
}

// parseAnchor reads "height:hash".
func parseAnchor(v string) (anchor, error) {
	hs, hash, ok := strings.Cut(v, ":")
	height, err := strconv.ParseInt(hs, 10, 64)
	if !ok || err != nil || hash == "" {
		return anchor{}, errors.New("want height:hash")
	}
	return anchor{height, hash}, nil
}
