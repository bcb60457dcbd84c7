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
	"github.com/stxwallets/walletcache/internal/store/storetest"
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

// kill -9 while a v3 rebuild replays the raw cache: every segment marked
// done and every window marked verified holds exactly the chain's rows
// (what was lost is only what had not landed), and the resumed run is
// exact. The tail's latency keeps the child alive past its first progress
// report, wherever the kill then lands among the runs.
func TestV3RebuildSIGKILLThenResume(t *testing.T) {
	t.Parallel()
	cfg := simConfig(8, 49)
	cfg.TxPerBlock = 3
	e := newEnv(t, cfg, "")
	e.useSource("v3", "")
	mustBackfill(t, e, "complete")
	pol := e.pol()
	for _, p := range []string{pol.Paths.Database, pol.Paths.Database + ".wal", progress.PathFor(pol.Paths.Database)} {
		_ = os.Remove(p)
	}
	e.sim.SetFaults(hirosim.Faults{Latency: 200 * time.Millisecond})
	c := e.startChild()
	e.waitPages(c, 1)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	e.assertClaimsHold()
	e.sim.SetFaults(hirosim.Faults{})
	mustBackfill(t, e, "complete")
	e.assertEqual(e.sim.All(), farPast, farFuture)
}

// assertClaimsHold checks what the database claims: the rows of the
// heights of every done final segment, and of the burn times of every
// verified window, are exactly the chain's.
func (e *env) assertClaimsHold() {
	e.t.Helper()
	s, err := store.Open(context.Background(), e.pol().Paths.Database, store.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	got := storetest.Rows(e.t, s.DB())
	all := e.sim.All()
	segs, err := s.Segments(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range segs {
		if !g.Done || !g.Final {
			continue
		}
		storetest.AssertExact(e.t, heightsIn(got, g.Lo, g.Hi), heightsIn(all, g.Lo, g.Hi), farPast, farFuture)
	}
	windows, err := s.Windows(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, w := range windows {
		if !w.Verified {
			continue
		}
		from, to := time.Unix(w.Start, 0), time.Unix(w.End, 0)
		var want []chain.Tx
		for _, x := range all {
			if !x.BurnBlockTime.Before(from) && !x.BurnBlockTime.After(to) {
				want = append(want, x)
			}
		}
		storetest.AssertExact(e.t, got, want, from, to)
	}
}

// heightsIn is the rows of txs at block heights [lo, hi].
func heightsIn(txs []chain.Tx, lo, hi int64) []chain.Tx {
	var out []chain.Tx
	for _, x := range txs {
		if x.BlockHeight >= lo && x.BlockHeight <= hi {
			out = append(out, x)
		}
	}
	return out
}
