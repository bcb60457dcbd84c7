package backfill_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/store"
)

// withBoth gives the harness both API sources over its one client, as the
// product runs them, starting with api.
func (h *harness) withBoth(api string) {
	h.cfg.V1, h.cfg.V3, h.cfg.API = backfill.NewV1(h.client), backfill.NewV3(h.client), api
}

// flipAfter changes the simulator's faults when the client sends its n-th
// request, as an operator's sunset would, mid-run.
func (h *harness) flipAfter(n int64, flip func(*hirosim.Faults)) {
	var sent atomic.Int64
	hook := func() {
		if sent.Add(1) == n {
			f := h.sim.Faults()
			flip(&f)
			h.sim.SetFaults(f)
		}
	}
	h.onRequest.Store(&hook)
}

// faultsAndGrowth throttles, fails, cuts and delays answers while the
// chain grows.
func faultsAndGrowth() hirosim.Faults {
	return hirosim.Faults{
		Rate429: 0.03, RetryAfter: time.Millisecond, Rate5xx: 0.05, RateTruncate: 0.05,
		RateSlow: 0.01, SlowDelay: 3 * time.Second, // past the client's 2 s timeout
		GrowEvery: 50 * time.Millisecond, GrowBlocks: 1, GrowTenureBlocks: 5,
	}
}

// api: auto on a server without v3 probes once and uses v1.
func TestAutoWithoutV3UsesV1(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 301)
	h.withBoth("auto")
	f := faultsAndGrowth()
	f.V3Absent = true
	h.sim.SetFaults(f)
	sum := h.mustRun()
	if sum.Source != backfill.SourceV1 {
		t.Fatalf("auto chose %q on a server without v3", sum.Source)
	}
	// One probe; random faults may make it retry, never more.
	if n := h.sim.Stats().ByRoute["/extended/v3/transactions"]; n < 1 || n > 1+8 {
		t.Fatalf("%d v3 requests, want one probe", n)
	}
	h.exactIn(store.Span{Start: 0, End: sum.Coverage.Horizon.End})
	h.sim.SetFaults(hirosim.Faults{V3Absent: true})
	h.mustRun()
	h.exact()
}

// v1 answers 410 Gone mid-run: the run goes on with v3, the windows v1
// verified stay, and the result is exact, under faults and growth.
func TestV1GoneMidRunSwitchesToV3(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 302)
	h.withBoth(backfill.SourceV1)
	h.sim.SetFaults(faultsAndGrowth())
	h.flipAfter(60, func(f *hirosim.Faults) { f.V1Gone = true })
	sum := h.mustRun()
	if sum.Source != "v1->v3" {
		t.Fatalf("source %q, want v1->v3", sum.Source)
	}
	if h.sim.Stats().Gone410 == 0 {
		t.Fatal("v1 never answered 410")
	}
	ws, err := h.st.Windows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bySource := map[string]int{}
	for _, w := range ws {
		if w.Covered() {
			bySource[w.Source]++
		}
	}
	if bySource[backfill.SourceV1] == 0 || bySource[backfill.SourceV3] == 0 {
		t.Fatalf("covered windows by source %v: want v1's verified windows kept and v3's added", bySource)
	}
	h.exactIn(sum.Coverage.Horizon)
	h.onRequest.Store(nil)
	h.sim.SetFaults(hirosim.Faults{V1Gone: true})
	h.mustRun()
	h.exact()
}

// v3 disappears mid-run (an older node took over): the run falls back to
// v1 and the result is exact, under faults and growth.
func TestV3GoneMidRunFallsBackToV1(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV3, 303)
	h.withBoth(backfill.SourceV3)
	h.sim.SetFaults(faultsAndGrowth())
	h.flipAfter(60, func(f *hirosim.Faults) { f.V3Absent = true })
	sum := h.mustRun()
	if sum.Source != "v3->v1" {
		t.Fatalf("source %q, want v3->v1", sum.Source)
	}
	h.exactIn(store.Span{Start: 0, End: sum.Coverage.Horizon.End})
	h.onRequest.Store(nil)
	h.sim.SetFaults(hirosim.Faults{V3Absent: true})
	h.mustRun()
	h.exact()
}
