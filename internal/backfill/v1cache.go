package backfill

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// The raw cache indexed by the windows its v1 pages belong to. Windows are
// sized by the density a run learns, so a later run (another horizon,
// another moment, another window_minutes) would rarely cut the same
// windows and ask for the same keys. Instead a plan reads which windows
// the cache holds pages of (their bounds are in the keys, CacheKey) and
// plans around them: those that fit inside the gaps are planned as they
// are, and only the time between them is cut afresh.

// keyLister is a raw cache that can list its page keys without reading a
// page (rawcache.Cache): EachKey calls fn with each, in no order, a key
// held twice maybe twice.
type keyLister interface {
	EachKey(fn func(key string)) error
}

// cachedWindow is a v1 window the raw cache holds pages of.
type cachedWindow struct {
	store.Span
	// pages is how many of its pages are cached; whole is true when they
	// are offsets 0, 50, 100, … with none missing between, so that they
	// may be all of them (the totals they carry tell, once read).
	pages int
	whole bool
}

// parseV1PageKey reads the window and offset of a v1 page key (CacheKey).
func parseV1PageKey(k string) (store.Span, int64, bool) {
	rest, ok := strings.CutPrefix(k, SourceV1+"_")
	if !ok {
		return store.Span{}, 0, false
	}
	parts := strings.Split(rest, "_")
	if len(parts) != 4 || parts[3] != "l"+strconv.Itoa(hiro.PageLimit) {
		return store.Span{}, 0, false
	}
	off, ok := strings.CutPrefix(parts[2], "o")
	if !ok {
		return store.Span{}, 0, false
	}
	s, err1 := strconv.ParseInt(parts[0], 10, 64)
	e, err2 := strconv.ParseInt(parts[1], 10, 64)
	o, err3 := strconv.ParseInt(off, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || e < s || o < 0 || o%hiro.PageLimit != 0 {
		return store.Span{}, 0, false
	}
	return store.Span{Start: s, End: e}, o, true
}

// cachedV1WindowsOf lists the v1 windows of the cache's keys, by Start,
// from keys handed out one at a time by each (keyLister.EachKey), in any
// order and a key maybe twice: only the windows' offsets are kept.
func cachedV1WindowsOf(each func(fn func(string)) error) ([]cachedWindow, error) {
	offsets := map[store.Span][]int64{}
	err := each(func(k string) {
		if sp, off, ok := parseV1PageKey(k); ok {
			offsets[sp] = append(offsets[sp], off)
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]cachedWindow, 0, len(offsets))
	for sp, offs := range offsets {
		slices.Sort(offs)
		offs = slices.Compact(offs)
		whole := true
		for i, o := range offs {
			whole = whole && o == int64(i)*hiro.PageLimit
		}
		out = append(out, cachedWindow{Span: sp, pages: len(offs), whole: whole})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].End < out[j].End
	})
	return out, nil
}

// cachedWindows is the v1 windows the run's raw cache holds, nil when
// there is none, it cannot list its keys, or it must not be read
// (backfill.force_refresh). Windows overlapping what the re-check
// re-opened are left out: their pages are what the run must read past.
func (r *run) cachedWindows() []cachedWindow {
	l, ok := r.cfg.Cache.(keyLister)
	if !ok || r.cfg.ForceRefresh {
		return nil
	}
	all, err := cachedV1WindowsOf(l.EachKey)
	if err != nil {
		r.log.Warn("cannot list the raw cache; planning without it", "err", err)
		return nil
	}
	out := all[:0]
	for _, c := range all {
		if !overlaps(r.uncached.times, c.Start, c.End) {
			out = append(out, c)
		}
	}
	return out
}

// fitCached picks, in each final gap of l, cached windows that lie wholly
// inside it (the first may start as far back as l.Reach) and do not
// overlap one another, covering as much of the gap as it can (a window
// that may be whole counts double, so that one with a page missing gives
// way to whole ones covering the same time). What the picked windows
// leave of the gaps within the horizon is rest. Windows never overlap, so
// each window's reconciliation (rows it did not see are deleted) stays
// within its own time.
func fitCached(l Layout, horizonStart int64, cached []cachedWindow) (picked []cachedWindow, rest []store.Span) {
	for i, g := range l.Final {
		from := g.Start
		if i == 0 {
			from = min(from, l.Reach)
		}
		var in []cachedWindow
		for _, c := range cached {
			if c.Start >= from && c.End <= g.End && c.End >= g.Start {
				in = append(in, c)
			}
		}
		best := disjointCover(in)
		spans := make([]store.Span, len(best))
		for i, c := range best {
			spans[i] = c.Span
		}
		picked = append(picked, best...)
		for _, r := range without(g, spans) {
			if r.End >= horizonStart { // time wholly before the horizon is no gap
				rest = append(rest, r)
			}
		}
	}
	return picked, rest
}

// disjointCover is the set of windows, no two overlapping, of the largest
// weight (weighted interval scheduling), by Start.
func disjointCover(ws []cachedWindow) []cachedWindow {
	if len(ws) == 0 {
		return nil
	}
	ws = append([]cachedWindow(nil), ws...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].End < ws[j].End })
	weight := func(c cachedWindow) int64 {
		w := c.End - c.Start + 1
		if c.whole {
			w *= 2
		}
		return w
	}
	// best[i] is the largest weight of windows among the first i.
	best := make([]int64, len(ws)+1)
	take := make([]bool, len(ws))
	prev := make([]int, len(ws)) // windows among the first prev[i] end before ws[i] starts
	for i, c := range ws {
		prev[i] = sort.Search(i, func(k int) bool { return ws[k].End >= c.Start })
		with := weight(c) + best[prev[i]]
		if with > best[i] {
			best[i+1], take[i] = with, true
		} else {
			best[i+1] = best[i]
		}
	}
	var out []cachedWindow
	for i := len(ws) - 1; i >= 0; {
		if take[i] {
			out = append(out, ws[i])
			i = prev[i] - 1
		} else {
			i--
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}
