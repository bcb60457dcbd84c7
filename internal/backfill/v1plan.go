package backfill

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/stxwallets/walletcache/internal/store"
)

// plan turns an iteration's layout into v1 windows: half-done final
// windows as they are, then the cached windows that fit in the final gaps
// as they are (their pages are read, not requested), then the rest of
// each gap as a chain of windows sized as they go (windowChain).
func (s *v1Source) plan(ctx context.Context, it *Iteration) ([]Unit, error) {
	r := it.run
	st := r.cfg.Store
	dbctx := context.WithoutCancel(ctx)
	grid := int64(r.cfg.Window.Seconds())
	l := Plan(it.Bounds, it.Windows, grid, r.givenUpSpans())
	if err := st.DropWindows(dbctx, l.Drop); err != nil {
		return nil, err
	}
	nextID, err := st.NextWindowID(dbctx)
	if err != nil {
		return nil, err
	}
	ids := &atomic.Int64{}
	ids.Store(nextID - 1)
	// A window waits only on its end's verdict: that commits at once, pages
	// wait for more to share their transaction.
	urgent := func(op store.WindowOp) bool { return op.Finish != nil }
	commits := startBatchingCommitter(it, commitLinger, urgent, func(ctx context.Context, ops []store.WindowOp) error {
		n, err := st.CommitWindowOps(ctx, ops)
		if err != nil {
			return err
		}
		pages := 0
		for _, op := range ops {
			if op.Page != nil {
				pages++
			}
		}
		it.run.rows.Add(int64(n))
		it.run.pages.Add(int64(pages))
		return nil
	})
	z := newSizer(grid, r.cfg.WindowRows)
	var units []*windowUnit
	for _, p := range l.Resume {
		units = append(units, &windowUnit{src: s, p: p, commits: commits})
	}
	picked, rest := fitCached(l, it.Bounds.HorizonStart, r.cachedWindows())
	for _, c := range picked {
		units = append(units, &windowUnit{src: s, p: Planned{Window: newWindow(ids, c.Start, c.End, true)}, commits: commits})
	}
	heads := func(gaps []store.Span, final bool) {
		for _, g := range gaps {
			if r.cfg.Offline {
				// No page of it is cached, and nothing can be learned
				// offline: the gap is one unit, which stays missing.
				units = append(units, &windowUnit{src: s, p: Planned{Window: newWindow(ids, g.Start, g.End, final)}, commits: commits})
				continue
			}
			c := &windowChain{gap: g, final: final, size: z, ids: ids, rate: densityNear(it.Windows, g.Start, grid)}
			end, _ := z.end(g.Start, g.End, c.rate)
			units = append(units, &windowUnit{src: s, p: Planned{Window: newWindow(ids, g.Start, end, final)}, commits: commits, chain: c})
		}
	}
	heads(rest, true)
	if !r.cfg.Offline { // provisional time never comes from the cache
		heads(l.Tail, false)
	}
	sort.SliceStable(units, func(i, j int) bool {
		// Final windows first (they are what coverage counts), oldest first.
		a, b := units[i].p, units[j].p
		if a.Final != b.Final {
			return a.Final
		}
		return a.Start < b.Start
	})
	out := make([]Unit, len(units))
	for i, u := range units {
		out[i] = u
	}
	return out, nil
}

// newWindow is the record of a window planned afresh, numbered from ids.
func newWindow(ids *atomic.Int64, start, end int64, final bool) store.Window {
	return store.Window{ID: ids.Add(1), Start: start, End: end, Attempt: 1, APITotal: -1, StoredRows: -1, Final: final}
}

// windowLabel starts the label of every v1 window unit.
const windowLabel = "window "

// givenUpSpans are the times of the v1 windows this run gave up on: later
// iterations plan around them, whatever windows they would cut there.
func (r *run) givenUpSpans() []store.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []store.Span
	for label, e := range r.unverified {
		if strings.HasPrefix(label, windowLabel) {
			out = append(out, store.Span{Start: e.Start, End: e.End})
		}
	}
	return out
}

// windowChain cuts one gap into windows one after the other: each window,
// once its first page has told its total, plans the next from the density
// that total shows, and hands it to the iteration to run while it pages on
// (so no worker waits for a density to be known). The first window of a
// gap is sized by the stored windows around it, or spans headCells cells.
type windowChain struct {
	gap   store.Span
	final bool
	size  sizer
	ids   *atomic.Int64

	mu sync.Mutex
	// rate is the latest density the chain knows.
	rate rate
	// expected is how many windows the chain has added to the
	// iteration's forecast and not yet planned.
	expected int
}

// maxCuts bounds how often one window is cut back before it is paged: each
// cut costs a request, and a second is needed only when the rows crowd at
// the window's start.
const maxCuts = 3

// walk is the attempt's walk; the first walk of a chain's window first
// opens it (open).
func (u *windowUnit) walk(ctx context.Context, it *Iteration, a *windowAttempt) (int64, bool, error) {
	if u.chain != nil && !u.spawned && len(a.done) == 0 {
		if err := u.open(ctx, it, a); err != nil {
			return 0, false, err
		}
	}
	return a.walk(ctx, it)
}

// open reads the first page of a chain's window. A total above the row cap
// cuts the window back before it is paged on (a request each time, so the
// sizing aims below the cap); the rest of the window goes to the next one,
// which is planned now from the density the total shows.
func (u *windowUnit) open(ctx context.Context, it *Iteration, a *windowAttempt) error {
	r := it.run
	t, err := a.page(ctx, it, 0)
	if err != nil {
		return err
	}
	for cuts := 0; cuts < maxCuts; cuts++ {
		end, ok := u.chain.size.shrink(a.w.Start, a.w.End, t)
		if !ok {
			break
		}
		r.log.Info("a window holds more rows than a window may; cutting it before paging on",
			"window", span(a.w), "api_total", t, "rows_at_most", u.chain.size.cap, "cut_to", end)
		a.w.End = end
		a.w.Attempt++ // what the page of the wider window committed is left behind
		u.p.Window = a.w
		a.discardStaged(it) // that page belongs to no window that will verify
		begun := a.w
		a.queue("start", store.WindowOp{Begin: &begun}) // behind the wider window's page
		if t, err = a.page(ctx, it, 0); err != nil {
			return err
		}
	}
	a.done[0] = t
	r.pagesKnown.Add(pagesFor(t))
	r.unitsOpened.Add(1)
	u.chain.next(it, u, rateOf(t, a.w.Start, a.w.End))
	return nil
}

// finish runs when a chain's window returns: one given up on before its
// first page told anything still plans the rest of its gap, with what the
// chain knew, so that the rest of the run goes on. Other errors end the
// iteration anyway (the budget, Ctrl+C, a fatal error).
func (u *windowUnit) finish(it *Iteration, err error) {
	if u.chain == nil || u.spawned {
		return
	}
	var unverified *UnverifiedError
	var notCached *NotCachedError
	if errors.As(err, &unverified) || errors.As(err, &notCached) {
		u.chain.mu.Lock()
		rt := u.chain.rate
		u.chain.mu.Unlock()
		u.chain.next(it, u, rt)
	}
}

// next plans the window after from in the chain's gap, sized at density
// rt, and hands it to the iteration.
func (c *windowChain) next(it *Iteration, from *windowUnit, rt rate) {
	from.spawned = true
	c.mu.Lock()
	if rt.known() {
		c.rate = rt
	}
	start := from.p.End + 1
	if start > c.gap.End {
		it.forecast(-c.expected)
		c.expected = 0
		c.mu.Unlock()
		return
	}
	end, after := c.size.end(start, c.gap.End, rt)
	it.forecast(1 + after - c.expected)
	c.expected = after
	c.mu.Unlock()
	it.spawn(&windowUnit{src: from.src, p: Planned{Window: newWindow(c.ids, start, end, c.final)}, commits: from.commits, chain: c})
}
