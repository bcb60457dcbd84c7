package backfill

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// CacheShare is how much of a horizon's final history the raw cache holds,
// read from its page keys alone (no page is opened), so status can afford
// it. A nil share means the cache holds no page of that source, or (v3)
// has no record to map heights to time.
type CacheShare struct {
	// V1 is the percentage of the horizon's seconds inside windows whose
	// first page is cached: a window's pages are cached together, once it
	// verified.
	V1 *float64
	// V3 is the percentage of the horizon's final heights (from the
	// record's height lookups) in cells of backfill.segment_heights that
	// hold a cached page: walks of final segments restart at each cell's
	// top, so a cell's pages come as a whole walk.
	V3 *float64
}

// RawCacheShare measures the CacheShare of cache for horizon: keys are the
// cache's page keys, settle the settle margin in seconds, cell the v3
// height grid (0: v3 is not measured).
func RawCacheShare(cache PageCache, keys []string, horizon store.Span, settle, cell int64) (CacheShare, error) {
	var share CacheShare
	var windows []store.Span
	var heights []int64
	for _, k := range keys {
		if s, ok := parseV1Key(k); ok {
			windows = append(windows, s)
		} else if h, ok := parseV3Key(k); ok {
			heights = append(heights, h)
		}
	}
	if len(windows) > 0 && horizon.End >= horizon.Start {
		pct := 100 * float64(coveredSeconds(windows, horizon)) / float64(horizon.End-horizon.Start+1)
		share.V1 = &pct
	}
	if len(heights) == 0 || cell <= 0 {
		return share, nil
	}
	rec, ok, err := readOfflineRecord(cache)
	if err != nil || !ok {
		return share, err
	}
	// A horizon that starts before the chain starts at its first block:
	// counting the heights below it, which do not exist, made a complete
	// cache of a young chain look nearly empty.
	lo, _ := rec.tip().FirstHeight() // 0 when the record has no block count
	hi := int64(-1)
	if ref, err := rec.blockAt(horizon.Start - settle); err == nil {
		lo = ref.Height
	} else if !errors.Is(err, hiro.ErrBlockNotFound) {
		return share, err
	}
	if ref, err := rec.blockAt(horizon.End - settle); err == nil {
		hi = ref.Height
	}
	if hi < lo {
		return share, nil
	}
	cells := map[int64]bool{}
	for _, h := range heights {
		cells[floorTo(h, cell)] = true
	}
	var held int64
	for c := floorTo(lo, cell); c <= hi; c += cell {
		if cells[c] {
			held += min(c+cell-1, hi) - max(c, lo) + 1
		}
	}
	pct := 100 * float64(held) / float64(hi-lo+1)
	share.V3 = &pct
	return share, nil
}

// parseV1Key reads the window of a v1 page key at offset 0 (CacheKey).
func parseV1Key(k string) (store.Span, bool) {
	rest, ok := strings.CutPrefix(k, SourceV1+"_")
	if !ok {
		return store.Span{}, false
	}
	parts := strings.Split(rest, "_")
	if len(parts) != 4 || parts[2] != "o0" {
		return store.Span{}, false
	}
	s, err1 := strconv.ParseInt(parts[0], 10, 64)
	e, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || e < s {
		return store.Span{}, false
	}
	return store.Span{Start: s, End: e}, true
}

// parseV3Key reads the height of a v3 page key's cursor (V3CacheKey).
func parseV3Key(k string) (int64, bool) {
	rest, ok := strings.CutPrefix(k, SourceV3+"_")
	if !ok {
		return 0, false
	}
	h, _, ok := strings.Cut(rest, "-")
	height, err := strconv.ParseInt(h, 10, 64)
	return height, ok && err == nil
}

// coveredSeconds is how many seconds of horizon the spans hold.
func coveredSeconds(spans []store.Span, horizon store.Span) int64 {
	sort.Slice(spans, func(i, j int) bool { return spans[i].Start < spans[j].Start })
	var n int64
	next := horizon.Start // first second not yet counted
	for _, s := range spans {
		from, to := max(s.Start, next), min(s.End, horizon.End)
		if from <= to {
			n += to - from + 1
			next = to + 1
		}
	}
	return n
}
