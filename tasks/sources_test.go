package tasks

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

// The sources the backfill can page; every conformance test runs on each.
var sources = []string{"v1", "v3"}

// useSource rewrites the policy's source section to page api ("auto",
// "v1", "v3"); extra sections are passed as newEnv takes them.
func (e *env) useSource(api, extra string) {
	e.t.Helper()
	u := e.pol().Source.BaseURL
	e.writePolicy(u, fmt.Sprintf("source:\n  base_url: %s\n  api: %s\n  requests_per_minute: 100000\n  requests_per_second: 1000\n"+
		"  concurrency: 4\n  timeout: %s\n  max_retries: 8\n\n%s", u, api, requestTimeout, extra))
}

// conformanceChain is a small chain fixed in time, so that the envs of
// both sources serve exactly the same transactions.
func conformanceChain(days int, seed int64, now time.Time) hirosim.Config {
	cfg := simConfig(days, seed)
	cfg.Now = now
	return cfg
}

// windowsOf reads the window records.
func (e *env) windowsOf() []store.Window {
	e.t.Helper()
	s, err := store.Open(context.Background(), e.pol().Paths.Database, store.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	ws, err := s.Windows(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// inRange keeps the rows whose burn time lies in [from, to].
func inRange(txs []chain.Tx, from, to time.Time) map[string]chain.Tx {
	out := map[string]chain.Tx{}
	for _, x := range txs {
		if !x.BurnBlockTime.Before(from) && !x.BurnBlockTime.After(to) {
			out[x.TxID] = x
		}
	}
	return out
}

// sourceRun is what one source left behind in a conformance scenario.
type sourceRun struct {
	rows    []chain.Tx
	horizon store.Span
}

// Source conformance: the same simulated chain and the same scenario give,
// with v1 and with v3, 100 % coverage, exactly the ground truth, and the
// same rows in the database over the horizon both covered.
func TestSourceConformance(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Minute)
	scenarios := []struct {
		name string
		cfg  hirosim.Config
		// extra policy sections
		extra string
		// run drives the backfill and checks what is specific to the
		// scenario; it returns the horizon that must be exact.
		run func(t *testing.T, e *env, api string) store.Span
	}{
		{
			name:  "clean run then a cheap second run",
			cfg:   conformanceChain(3, 31, now),
			extra: "horizon:\n  target_days: 4\n  settle_minutes: 120",
			run: func(t *testing.T, e *env, api string) store.Span {
				sum := mustBackfill(t, e, "complete")
				if sum.Source != api {
					t.Fatalf("source %q, want %q", sum.Source, api)
				}
				e.assertEqual(e.sim.All(), farPast, farFuture)
				before := e.sim.Stats().Requests
				sum2 := mustBackfill(t, e, "complete")
				if extra := e.sim.Stats().Requests - before; extra > sum.Requests/4 {
					t.Fatalf("the second run sent %d requests, the first %d: covered history was fetched again", extra, sum.Requests)
				}
				if sum2.WindowsVerified > 4 {
					t.Fatalf("the second run verified %d windows again", sum2.WindowsVerified)
				}
				e.assertEqual(e.sim.All(), farPast, farFuture)
				return sum2.Coverage.Horizon
			},
		},
		{
			name:  "horizon shorter than the chain, then a reorg at the tip",
			cfg:   conformanceChain(4, 32, now),
			extra: "horizon:\n  target_days: 2\n  settle_minutes: 120",
			run: func(t *testing.T, e *env, api string) store.Span {
				sum := mustBackfill(t, e, "complete")
				h := sum.Coverage.Horizon
				e.assertEqual(e.sim.GroundTruth(time.Unix(h.Start, 0), time.Unix(h.End, 0)), time.Unix(h.Start, 0), time.Unix(h.End, 0))
				before := e.sim.All()
				e.sim.Reorg(6)
				if sameIDs(before, e.sim.All()) {
					t.Fatal("the reorg changed nothing")
				}
				sum = mustBackfill(t, e, "complete")
				if sum.RowsDeleted == 0 {
					t.Fatal("no row was deleted, yet the reorg dropped transactions")
				}
				h = sum.Coverage.Horizon
				// Everything from the horizon on, the provisional tail included.
				e.assertEqual(e.sim.GroundTruth(time.Unix(h.Start, 0), farFuture), time.Unix(h.Start, 0), farFuture)
				return h
			},
		},
		{
			name:  "the horizon grows backwards: a gap below covered history",
			cfg:   conformanceChain(4, 34, now),
			extra: "horizon:\n  target_days: 1\n  settle_minutes: 120",
			run: func(t *testing.T, e *env, api string) store.Span {
				mustBackfill(t, e, "complete")
				e.setenv("BACKFILL_TARGET_DAYS", "3")
				before := e.sim.Stats().Requests
				sum := mustBackfill(t, e, "complete")
				if sum.Requests == 0 || e.sim.Stats().Requests-before > 200 {
					t.Fatalf("the wider horizon took %d requests", e.sim.Stats().Requests-before)
				}
				h := sum.Coverage.Horizon
				e.assertEqual(e.sim.GroundTruth(time.Unix(h.Start, 0), farFuture), time.Unix(h.Start, 0), farFuture)
				return h
			},
		},
		{
			name:  "a small page budget: iterations resume where the last stopped",
			cfg:   conformanceChain(2, 33, now),
			extra: "backfill:\n  max_pages: 9\n  max_iterations: 0\n\nhorizon:\n  target_days: 3\n  settle_minutes: 120",
			run: func(t *testing.T, e *env, api string) store.Span {
				sum := mustBackfill(t, e, "complete")
				if sum.Iterations < 3 {
					t.Fatalf("%d iterations: the budget did not bite", sum.Iterations)
				}
				e.assertEqual(e.sim.All(), farPast, farFuture)
				return sum.Coverage.Horizon
			},
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]sourceRun{}
			for _, api := range sources {
				t.Run(api, func(t *testing.T) {
					e := newEnv(t, sc.cfg, sc.extra)
					e.useSource(api, sc.extra)
					h := sc.run(t, e, api)
					got[api] = sourceRun{rows: e.stored(), horizon: h}
					all := e.sim.All()
					for _, w := range e.windowsOf() {
						if !w.Covered() || w.End < h.Start {
							continue
						}
						if w.Source != api {
							t.Fatalf("window %+v covered by %s in a %s-only run", w, w.Source, api)
						}
						if w.Start/3600 != w.End/3600 {
							t.Fatalf("window %+v crosses the hour grid", w)
						}
						if n := int64(len(inRange(all, time.Unix(w.Start, 0), time.Unix(w.End, 0)))); n != w.StoredRows || n != w.APITotal {
							t.Fatalf("window %+v: the chain has %d rows in it", w, n)
						}
					}
				})
			}
			a, b := got["v1"], got["v3"]
			if a.rows == nil || b.rows == nil {
				return // a source failed; its subtest says why
			}
			from, to := time.Unix(max(a.horizon.Start, b.horizon.Start), 0), time.Unix(min(a.horizon.End, b.horizon.End), 0)
			ra, rb := inRange(a.rows, from, to), inRange(b.rows, from, to)
			if len(ra) == 0 || len(ra) != len(rb) {
				t.Fatalf("v1 stored %d rows in the common horizon, v3 %d", len(ra), len(rb))
			}
			for id, x := range ra {
				if rb[id] != x {
					t.Fatalf("tx %s: v1 stored %+v, v3 %+v", id, x, rb[id])
				}
			}
		})
	}
}

// mustBackfill runs the backfill, which must end with outcome and 100 %.
func mustBackfill(t *testing.T, e *env, outcome progress.Outcome) backfill.Summary {
	t.Helper()
	sum, err := e.backfill()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != outcome || sum.Coverage.Percent != 100 {
		t.Fatalf("outcome %s coverage %.3f (%s), want %s at 100 %%", sum.Outcome, sum.Coverage.Percent, sum.Message, outcome)
	}
	return sum
}

// faultsAndGrowth is TestBackfillUnderFaults' mix: throttling, server
// errors, cut bodies, slow answers past the timeout, and a growing chain.
func faultsAndGrowth() hirosim.Faults {
	return hirosim.Faults{
		Rate429: 0.03, RetryAfter: time.Second, Rate5xx: 0.05, RateTruncate: 0.05,
		RateSlow: 0.01, SlowDelay: requestTimeout * 3 / 2, // past the policy's timeout
		GrowEvery: 100 * time.Millisecond, GrowBlocks: 1, GrowTenureBlocks: 5,
	}
}

// checkFaultsFired fails when the simulator's faults never fired.
func checkFaultsFired(t *testing.T, e *env) {
	t.Helper()
	if st := e.sim.Stats(); st.Status429 == 0 || st.Status5xx == 0 || st.Truncated == 0 {
		t.Fatalf("faults did not fire: 429 %d, 5xx %d, truncated %d", st.Status429, st.Status5xx, st.Truncated)
	}
}

// finalExact checks the final horizon after a run under growth, then stops
// the faults and checks that a second run makes the whole chain exact.
func finalExact(t *testing.T, e *env, sum backfill.Summary) {
	t.Helper()
	end := time.Unix(sum.Coverage.Horizon.End, 0)
	e.assertEqual(e.sim.GroundTruth(farPast, end), farPast, end)
	f := e.sim.Faults()
	e.sim.SetFaults(hirosim.Faults{V1Gone: f.V1Gone, V3Absent: f.V3Absent})
	if _, err := e.backfill(); err != nil {
		t.Fatal(err)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
}

// v3 alone (auto finds it) under every fault and a growing chain.
func TestV3UnderFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(4, 41), "")
	e.useSource("auto", "")
	e.sim.SetFaults(faultsAndGrowth())
	sum := mustBackfill(t, e, "complete")
	if sum.Source != "v3" {
		t.Fatalf("auto chose %q on a server with v3", sum.Source)
	}
	checkFaultsFired(t, e)
	if n := e.sim.Stats().ByRoute["/extended/v1/tx"]; n != 0 {
		t.Fatalf("a v3 run sent %d v1 requests", n)
	}
	finalExact(t, e, sum)
	rep, err := e.status()
	if err != nil || rep.LastRun == nil || rep.LastRun.Source != "v3" || rep.CoveragePercent != 100 {
		t.Fatalf("status: %v %+v", err, rep.LastRun)
	}
}

// auto on a server without v3 probes once and pages v1, under every fault.
func TestAutoWithoutV3UsesV1(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(3, 42), "")
	e.useSource("auto", "horizon:\n  target_days: 4\n  settle_minutes: 120")
	f := faultsAndGrowth()
	f.V3Absent = true
	e.sim.SetFaults(f)
	sum := mustBackfill(t, e, "complete")
	if sum.Source != "v1" {
		t.Fatalf("auto chose %q on a server without v3", sum.Source)
	}
	checkFaultsFired(t, e)
	// One probe; random faults may make it retry, never more.
	if n := e.sim.Stats().ByRoute["/extended/v3/transactions"]; n < 1 || n > 1+8 {
		t.Fatalf("%d v3 requests, want one probe", n)
	}
	finalExact(t, e, sum)
}

// switchAfter flips the simulator's faults with flip once the route has
// answered n requests, from another goroutine, as an operator's sunset would.
func switchAfter(t *testing.T, e *env, route string, n int64, flip func(*hirosim.Faults)) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if e.sim.Stats().ByRoute[route] >= n {
				f := e.sim.Faults()
				flip(&f)
				e.sim.SetFaults(f)
				return
			}
		}
	}()
}

// v1 answers 410 Gone halfway through a run: the run goes on with v3, the
// windows v1 verified stay, and the result is exact; under every fault and
// a growing chain.
func TestV1GoneMidRunSwitchesToV3(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(4, 43), "horizon:\n  target_days: 3\n  settle_minutes: 120")
	e.useSource("v1", "horizon:\n  target_days: 3\n  settle_minutes: 120")
	e.sim.SetFaults(faultsAndGrowth())
	switchAfter(t, e, "/extended/v1/tx", 60, func(f *hirosim.Faults) { f.V1Gone = true })
	sum := mustBackfill(t, e, "complete")
	if sum.Source != "v1->v3" {
		t.Fatalf("source %q, want v1->v3", sum.Source)
	}
	if e.sim.Stats().Gone410 == 0 {
		t.Fatal("v1 never answered 410")
	}
	checkFaultsFired(t, e)
	bySource := map[string]int{}
	for _, w := range e.windowsOf() {
		if w.Covered() {
			bySource[w.Source]++
		}
	}
	if bySource["v1"] == 0 || bySource["v3"] == 0 {
		t.Fatalf("covered windows by source %v: want v1's verified windows kept and v3's added", bySource)
	}
	h := sum.Coverage.Horizon
	e.assertEqual(e.sim.GroundTruth(time.Unix(h.Start, 0), time.Unix(h.End, 0)), time.Unix(h.Start, 0), time.Unix(h.End, 0))
	rep, err := e.status()
	if err != nil || rep.LastRun == nil || rep.LastRun.Source != "v1->v3" {
		t.Fatalf("status: %v %+v", err, rep.LastRun)
	}
	// Growth stopped, v1 still gone: the next run switches at once and
	// makes everything from the horizon on exact.
	e.sim.SetFaults(hirosim.Faults{V1Gone: true})
	sum = mustBackfill(t, e, "complete")
	h = sum.Coverage.Horizon
	e.assertEqual(e.sim.GroundTruth(time.Unix(h.Start, 0), farFuture), time.Unix(h.Start, 0), farFuture)
}

// v3 disappears halfway through a run (the node was replaced by an older
// one): the run falls back to v1 and the result is exact; under every
// fault and a growing chain.
func TestV3GoneMidRunFallsBackToV1(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(4, 44), "")
	e.useSource("v3", "horizon:\n  target_days: 5\n  settle_minutes: 120")
	e.sim.SetFaults(faultsAndGrowth())
	switchAfter(t, e, "/extended/v3/transactions", 60, func(f *hirosim.Faults) { f.V3Absent = true })
	sum := mustBackfill(t, e, "complete")
	if sum.Source != "v3->v1" {
		t.Fatalf("source %q, want v3->v1", sum.Source)
	}
	checkFaultsFired(t, e)
	finalExact(t, e, sum)
}

// Neither v1 (410) nor v3 (absent): a clear failure naming both, not a hang.
func TestNoSourceLeftFails(t *testing.T) {
	t.Parallel()
	for _, api := range []string{"auto", "v1", "v3"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, simConfig(1, 45), "")
			e.useSource(api, "")
			e.sim.SetFaults(hirosim.Faults{V1Gone: true, V3Absent: true})
			_, err := e.backfill()
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "neither") {
				t.Fatalf("want a failure naming both sources, got exit %d: %v", exitcode.Of(err), err)
			}
		})
	}
}

// v3page reports whether a served request key is a v3 page with a cursor.
func v3page(key string) bool {
	path, query, _ := strings.Cut(key, "?")
	q, err := url.ParseQuery(query)
	return err == nil && path == "/extended/v3/transactions" && q.Get("cursor") != ""
}

// kill -9 during a v3 run, twice: what is on disk holds only whole pages,
// the resumed runs continue each segment at its committed cursor (a page
// is fetched twice only when it was in flight at a kill), and the end
// result is exact.
func TestV3SIGKILLThenResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(6, 46), "")
	e.useSource("v3", "")
	e.sim.SetFaults(hirosim.Faults{Latency: 100 * time.Millisecond, Rate5xx: 0.02, RateTruncate: 0.02})
	for i, pages := range []int64{20, 60} {
		c := e.startChild()
		e.waitPages(c, pages)
		e.waitRequests(c, int64(i*4)) // land somewhere inside a commit cycle
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.done
		_ = e.stored() // opens, and holds no duplicate tx_id
		rep, err := e.status()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Running != nil || !hasWarning(rep, "killed") {
			t.Fatalf("after kill -9 status says running=%v warnings=%v", rep.Running, rep.Warnings)
		}
	}
	e.sim.SetFaults(hirosim.Faults{})
	sum := mustBackfill(t, e, "complete")
	if sum.Source != "v3" {
		t.Fatalf("source %q", sum.Source)
	}
	again := 0
	for _, k := range e.sim.Stats().ServedTwice() {
		if v3page(k) {
			again++
		}
	}
	t.Logf("v3 pages fetched twice across 2 kills: %d", again)
	if again > 2*16 {
		t.Fatalf("%d v3 pages were fetched twice across 2 kills: the resume started over", again)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
}

// v3 keeps the pages of final segments in the raw cache: with the
// database lost, a run on the same chain rebuilds it from the cache,
// asking the API only for the provisional tail and the lookups.
func TestV3RawCacheRebuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(3, 47), "")
	e.useSource("v3", "")
	first := mustBackfill(t, e, "complete")
	db := e.pol().Paths.Database
	for _, p := range []string{db, db + ".wal"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	before := e.sim.Stats().ByRoute["/extended/v3/transactions"]
	second := mustBackfill(t, e, "complete")
	fetched := e.sim.Stats().ByRoute["/extended/v3/transactions"] - before
	t.Logf("first run %d pages; rebuild %d pages, %d from the cache, %d fetched", first.Pages, second.Pages, second.CacheHits, fetched)
	// Each iteration also reads the newest page once, to bound the tip.
	if second.CacheHits == 0 || fetched > second.Pages-second.CacheHits+int64(second.Iterations) || fetched > first.Pages/4 {
		t.Fatalf("rebuild: %d cache hits, %d pages fetched of %d", second.CacheHits, fetched, second.Pages)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
}

// Ctrl+C during a v3 run: the child stops, commits what arrived and exits
// 130 within Mage's 5 s grace; the resumed run makes the database exact.
func TestV3SIGINTThenResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(5, 48), "")
	e.useSource("v3", "")
	e.sim.SetFaults(hirosim.Faults{Latency: 100 * time.Millisecond, Rate5xx: 0.02, RateTruncate: 0.02})
	c := e.startChild()
	e.waitPages(c, 30)
	interrupt(t, c)
	if out := c.out.String(); !strings.Contains(out, "backfill interrupted") || !strings.Contains(out, "source     v3") {
		t.Fatalf("no summary naming the source after Ctrl+C: %s", out)
	}
	e.sim.SetFaults(hirosim.Faults{})
	mustBackfill(t, e, "complete")
	e.assertEqual(e.sim.All(), farPast, farFuture)
}
