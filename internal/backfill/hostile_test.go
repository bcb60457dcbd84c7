package backfill_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/store"
	"github.com/stxwallets/walletcache/internal/store/storetest"
)

// liar is a proxy in front of the simulator that rewrites the JSON of the
// answers whose path matches: a hostile or merely odd server.
type liar struct {
	mu      sync.Mutex
	rewrite func(path string, query url.Values, body map[string]any) bool // reports whether it changed body
	refuse  func(path string, query url.Values) (status int, body string) // a status other than 0 is answered instead
	srv     *httptest.Server
}

func newLiar(t *testing.T, upstream string) *liar {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	l := &liar{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		l.mu.Lock()
		f := l.rewrite
		l.mu.Unlock()
		if f == nil || resp.StatusCode != http.StatusOK {
			return nil
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return nil // not JSON: pass nothing on, the client retries
		}
		resp.Body.Close()
		f(resp.Request.URL.Path, resp.Request.URL.Query(), body)
		b, _ := json.Marshal(body)
		resp.Body = readCloser{strings.NewReader(string(b))}
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		resp.Header.Del("Content-Encoding")
		return nil
	}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		f := l.refuse
		l.mu.Unlock()
		if f != nil {
			if status, body := f(r.URL.Path, r.URL.Query()); status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				fmt.Fprint(w, body)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *liar) set(f func(path string, query url.Values, body map[string]any) bool) {
	l.mu.Lock()
	l.rewrite = f
	l.mu.Unlock()
}

// answer makes the liar answer the requests f gives a status for with that
// status and body instead of the simulator's.
func (l *liar) answer(f func(path string, query url.Values) (status int, body string)) {
	l.mu.Lock()
	l.refuse = f
	l.mu.Unlock()
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// throughLiar points the harness's client at a liar in front of its simulator.
func (h *harness) throughLiar(source string) *liar {
	h.t.Helper()
	l := newLiar(h.t, h.url)
	c, err := hiro.New(hiro.Options{
		BaseURL: l.srv.URL, RequestsPerMinute: 1e6, RequestsPerSecond: 1e5, Concurrency: 4,
		Timeout: 2 * time.Second, MaxRetries: 3, MaxWait: time.Minute, BackoffBase: time.Millisecond, Logger: testLogger(h.t),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.useClient(source, c)
	return l
}

// useClient makes the harness's sources use c.
func (h *harness) useClient(source string, c *hiro.Client) {
	for _, s := range sources {
		if s.name == source {
			h.cfg.V1, h.cfg.V3 = s.make(c)
		}
	}
}

// shiftTip moves the burn time of the newest block by d on the tip routes.
func shiftTip(d time.Duration) func(string, url.Values, map[string]any) bool {
	return eachBlock(func(url.Values) bool { return true }, func(b map[string]any) {
		b["burn_block_time"] = b["burn_block_time"].(float64) + d.Seconds()
	})
}

// eachBlock rewrites with f every block of the answers of /extended/v2/blocks
// whose query match accepts.
func eachBlock(match func(url.Values) bool, f func(block map[string]any)) func(string, url.Values, map[string]any) bool {
	return func(path string, q url.Values, body map[string]any) bool {
		if path != "/extended/v2/blocks" || !match(q) {
			return false
		}
		res, _ := body["results"].([]any)
		for _, r := range res {
			f(r.(map[string]any))
		}
		return true
	}
}

// A tip stamped a day ahead makes nothing final early: an honest run
// later finds every transaction, none was lost to windows called final
// with rows still to come.
func TestHostileFutureTip(t *testing.T) {
	t.Parallel()
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, src.name, 201)
			l := h.throughLiar(src.name)
			l.set(shiftTip(24 * time.Hour))
			if _, err := backfill.Run(context.Background(), h.cfg); err != nil {
				t.Fatal(err)
			}
			// The chain goes on: new blocks land in what the lie called final.
			h.sim.Grow(40)
			l.set(nil)
			h.mustRun()
			h.exact()
		})
	}
}

// A tip in 1970 is an error that says what the server sent, never
// "100 %, meets policy".
func TestHostileTipIn1970(t *testing.T) {
	lyingFirstRun(t, 202, eachBlock(func(url.Values) bool { return true }, func(b map[string]any) { b["burn_block_time"] = 86400.0 }),
		func(t *testing.T, _ *harness, sum backfill.Summary, err error) {
			var implausible *backfill.ImplausibleTipError
			if !errors.As(err, &implausible) || !strings.Contains(err.Error(), "1970-01-02") {
				t.Fatalf("err %v, want the implausible tip named", err)
			}
			if sum.Coverage.Percent == 100 {
				t.Fatal("a 1970 tip gave 100 % coverage")
			}
		})
}

// lyingFirstRun runs, for each source in a parallel subtest, a first
// backfill through a liar that rewrites answers with rewrite, and hands
// the harness and the outcome to check.
func lyingFirstRun(t *testing.T, seed int64, rewrite func(string, url.Values, map[string]any) bool,
	check func(t *testing.T, h *harness, sum backfill.Summary, err error)) {
	t.Parallel()
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, src.name, seed)
			h.throughLiar(src.name).set(rewrite)
			sum, err := backfill.Run(context.Background(), h.cfg)
			check(t, h, sum, err)
		})
	}
}

// Another chain (a simulator with another seed) is refused with exit 2,
// for the database and for the raw cache, and changes nothing.
func TestHostileAnotherChain(t *testing.T) {
	t.Parallel()
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, src.name, 203)
			h.mustRun()
			before := storetest.Rows(t, h.st.DB())
			other := hirosim.New(hirosim.Config{Seed: 999, History: chainDays * 24 * time.Hour, BlockInterval: time.Minute, TxPerBlock: 1})
			t.Cleanup(other.Close)
			c, err := hiro.New(hiro.Options{BaseURL: other.Start(), RequestsPerMinute: 1e6, RequestsPerSecond: 1e5,
				Concurrency: 4, Timeout: 2 * time.Second, MaxRetries: 3, MaxWait: time.Minute, BackoffBase: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			h.useClient(src.name, c)
			for _, where := range []string{"database", "raw cache"} {
				if where == "raw cache" {
					h.open("fresh.duckdb") // a fresh database, the old raw cache
				}
				_, err := backfill.Run(context.Background(), h.cfg)
				var mismatch *backfill.ChainMismatchError
				if !errors.As(err, &mismatch) || mismatch.Where != where || exitcode.Of(err) != exitcode.BadInput {
					t.Fatalf("%s: err %v, want another chain refused with exit 2", where, err)
				}
			}
			if n := len(storetest.Rows(t, h.st.DB())); n != 0 {
				t.Fatalf("the refused run wrote %d rows into the fresh database", n)
			}
			h.open("wallet_metrics.duckdb")
			storetest.AssertExact(t, storetest.Rows(t, h.st.DB()), before, storetest.FarPast, storetest.FarFuture)
		})
	}
}

// A v1 window whose total never matches (the server repeats a row on
// every page of it and counts it in the total) is given up on after a bounded number of attempts;
// every other window completes, the run ends with an error naming it, and
// the repeated row is stored once.
func TestHostileWindowThatNeverMatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 204)
	l := h.throughLiar(backfill.SourceV1)
	var target string
	l.setOnFinalPages(h, func(q url.Values, body map[string]any, res []any) bool {
		if target == "" && len(res) > 1 {
			target = q.Get("start_time")
		}
		if q.Get("start_time") != target || len(res) == 0 {
			return false
		}
		if len(res) < 50 {
			res = append(res, res[0]) // a duplicate row
		} else {
			res[len(res)-1] = res[0] // within the page limit
		}
		body["results"] = res
		body["total"] = body["total"].(float64) + 1 // counted in the total
		return true
	})
	sum, err := backfill.Run(context.Background(), h.cfg)
	var gaveUp *backfill.GaveUpError
	if !errors.As(err, &gaveUp) || len(gaveUp.Units) != 1 || !strings.Contains(err.Error(), "never matched") {
		t.Fatalf("err %v, want one window given up on", err)
	}
	if sum.Iterations > 3 {
		t.Fatalf("%d iterations for one window that never matches", sum.Iterations)
	}
	if u := gaveUp.Units[0]; len(sum.Coverage.Missing) != 1 || sum.Coverage.Missing[0] != (store.Span{Start: u.Start, End: u.End}) {
		t.Fatalf("missing %v, want exactly the window given up on (%s)", sum.Coverage.Missing, u.Unit)
	}
	storetest.Rows(t, h.st.DB()) // fails on a duplicate tx_id
	m := sum.Coverage.Missing[0]
	storetest.AssertExact(t, storetest.Rows(t, h.st.DB()), h.sim.GroundTruth(storetest.FarPast, time.Unix(m.Start-1, 0)), storetest.FarPast, time.Unix(m.Start-1, 0))
	// The window's pages waited on disk for a verdict that never came:
	// none is cached, and none is left behind.
	keys, err := h.cache.Keys()
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("v1_%d_", m.Start)
	cachedOther := 0
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			t.Fatalf("page %s of the window that never matched is cached", k)
		}
		cachedOther++
	}
	u, err := h.cache.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.TempFiles != 0 || cachedOther == 0 {
		t.Fatalf("raw cache: %d temporary files left, %d pages of other windows cached; want 0 and some", u.TempFiles, cachedOther)
	}
}

// A page that was wrong once (a row left out) is never served again from
// the raw cache: the retry asks the server, and the database ends exact.
func TestHostileBadPageServedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 205)
	l := h.throughLiar(backfill.SourceV1)
	var once sync.Once
	l.set(func(path string, q url.Values, body map[string]any) bool {
		res, _ := body["results"].([]any)
		if path != "/extended/v1/tx" || q.Get("start_time") == "" || len(res) < 2 {
			return false
		}
		changed := false
		once.Do(func() { body["results"], changed = res[1:], true })
		return changed
	})
	h.mustRun()
	h.exact()
	// A rebuild from the raw cache alone is exact too: no bad page was kept.
	h.open("rebuilt.duckdb")
	h.mustRun()
	h.exact()
}

// A final window that grows after it was verified (a Bitcoin timestamp
// that ran backwards past the settle margin; here, a server that hid the
// newest of its rows and counted it out of the total) is re-checked on the
// next run, re-opened, and fetched again: the database ends exact. The
// newest row is the one hidden because the pages are in ascending order:
// leaving it out shifts no other row's offset, so the lie is a server
// that simply did not have it yet. (Hiding an older row without shifting
// the pages after it makes a server whose pages never add up to its
// total, whenever that total is a multiple of the page size.)
func TestHostileFinalWindowGrows(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 206)
	l := h.throughLiar(backfill.SourceV1)
	tip := h.sim.Tip().BurnTime.Unix()
	at := tip - 5*3600 // inside the last 6 hours before the final edge
	var mu sync.Mutex
	var window string
	var from, to int64 // the window's span
	l.set(func(path string, q url.Values, body map[string]any) bool {
		start, _ := strconv.ParseInt(q.Get("start_time"), 10, 64)
		end, _ := strconv.ParseInt(q.Get("end_time"), 10, 64)
		res, _ := body["results"].([]any)
		if path != "/extended/v1/tx" || start > at || end < at {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if window == "" && len(res) > 0 {
			window, from, to = q.Get("start_time"), start, end
		}
		if q.Get("start_time") != window || q.Get("end_time") != strconv.FormatInt(to, 10) {
			return false
		}
		newest := body["total"].(float64) - 1 // the offset of the window's newest row
		off, _ := strconv.ParseFloat(q.Get("offset"), 64)
		kept := res[:0:0]
		for i, r := range res {
			if off+float64(i) != newest {
				kept = append(kept, r)
			}
		}
		body["results"], body["total"] = kept, newest
		return true
	})
	h.mustRun()
	if window == "" {
		t.Fatal("no window in the re-check range was served")
	}
	inSpan := func(txs []chain.Tx) (n int) {
		for _, x := range txs {
			if b := x.BurnBlockTime.Unix(); b >= from && b <= to {
				n++
			}
		}
		return n
	}
	if stored, truth := inSpan(storetest.Rows(t, h.st.DB())), inSpan(h.sim.GroundTruth(time.Unix(from, 0), time.Unix(to, 0))); stored != truth-1 {
		t.Fatalf("the window holds %d rows of the truth's %d: the test hid nothing, or more than one", stored, truth)
	}
	l.set(nil) // the window now has one more row than was verified
	h.mustRun()
	h.exact()
}

// setOnFinalPages makes the liar rewrite with f the answers for pages of
// final v1 windows, one at a time, f getting the page's results.
func (l *liar) setOnFinalPages(h *harness, f func(q url.Values, body map[string]any, res []any) bool) {
	var mu sync.Mutex
	l.set(func(path string, q url.Values, body map[string]any) bool {
		if !finalWindowPage(h, path, q) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		res, _ := body["results"].([]any)
		return f(q, body, res)
	})
}

// finalWindowPage says whether a request is for a page of a final v1
// window.
func finalWindowPage(h *harness, path string, q url.Values) bool {
	return path == "/extended/v1/tx" && q.Get("start_time") != "" && finalWindow(h, q)
}

// finalWindow reports whether a v1 list request asks for a final window
// (one ending at least the settle margin before the tip): what the hostile
// tests below lie about must count in coverage.
func finalWindow(h *harness, q url.Values) bool {
	end, err := strconv.ParseInt(q.Get("end_time"), 10, 64)
	return err == nil && end <= h.sim.Tip().BurnTime.Unix()-int64(h.cfg.Settle/time.Second)
}

// A window whose page is impossible every time it is asked for (a
// negative nonce) is given up on after the client's retries: nothing of it
// is stored, every other window completes, and the run's error names it.
func TestHostileImpossibleValueEveryTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 207)
	h.cfg.MaxIterations = 1 // the windows after it are planned and fetched in the same iteration
	l := h.throughLiar(backfill.SourceV1)
	var mu sync.Mutex
	var window string
	l.set(func(path string, q url.Values, body map[string]any) bool {
		res, _ := body["results"].([]any)
		if !finalWindowPage(h, path, q) || len(res) == 0 {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if window == "" {
			window = q.Get("start_time")
		}
		if q.Get("start_time") != window {
			return false
		}
		res[0].(map[string]any)["nonce"] = -1.0
		return true
	})
	sum, err := backfill.Run(context.Background(), h.cfg)
	var gaveUp *backfill.GaveUpError
	if !errors.As(err, &gaveUp) || len(gaveUp.Units) != 1 || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("err %v, want the window with the impossible nonce given up on", err)
	}
	if u := gaveUp.Units[0]; len(sum.Coverage.Missing) != 1 || sum.Coverage.Missing[0] != (store.Span{Start: u.Start, End: u.End}) {
		t.Fatalf("missing %v, want only that window (%s)", sum.Coverage.Missing, u.Unit)
	}
	m := sum.Coverage.Missing[0]
	storetest.AssertExact(t, storetest.Rows(t, h.st.DB()), h.sim.GroundTruth(time.Unix(m.End+1, 0), storetest.FarFuture), time.Unix(m.End+1, 0), storetest.FarFuture)
	for _, x := range storetest.Rows(t, h.st.DB()) {
		if b := x.BurnBlockTime.Unix(); b >= m.Start && b <= m.End {
			t.Fatalf("a row of the bad window was stored: %s", x.TxID)
		}
	}
}

// A block said to be anchorDepth below the newest but above the tip cannot
// be: the first run stops before it writes anything, and records no chain.
func TestHostileAnchorAboveTheTip(t *testing.T) {
	higher := eachBlock(func(q url.Values) bool { return q.Has("offset") }, func(b map[string]any) {
		b["height"] = b["height"].(float64) + 5000
	})
	lyingFirstRun(t, 205, higher, func(t *testing.T, h *harness, _ backfill.Summary, err error) {
		if err == nil || !strings.Contains(err.Error(), "outside the chain's heights") {
			t.Fatalf("err %v, want the impossible anchor named", err)
		}
		if n := len(storetest.Rows(t, h.st.DB())); n != 0 {
			t.Fatalf("the refused run wrote %d rows", n)
		}
		if _, ok, err := h.st.Meta(context.Background(), store.MetaChainAnchor); ok || err != nil {
			t.Fatalf("a chain anchor was recorded (%v)", err)
		}
		if _, _, ok, err := h.cache.ChainAnchor(); ok || err != nil {
			t.Fatalf("the raw cache recorded a chain (%v)", err)
		}
	})
}

// A server that ends a v3 walk in the middle of the chain as if nothing
// older existed (an empty page, a full page without a next cursor, or an
// older server's 404 at the top of a block) is not believed: the segment
// is given up on, its time stays missing, and an honest rerun ends exact.
// Believed, the walk would be done there: the heights below the lie would
// count as holding nothing, their stored rows would be deleted, and the
// run would report full coverage without them.
func TestHostileV3WalkEndsMidChain(t *testing.T) {
	t.Parallel()
	// midChain is a cursor of the kind wanted, a quarter to half way up the
	// chain: in a final segment, far from its bottom.
	midChain := func(h *harness, q url.Values, blockTop bool) bool {
		height, m, i, err := hiro.ParseCursor(q.Get("cursor"))
		lo, span := h.sim.Tip().Height-h.sim.Tip().Blocks+1, h.sim.Tip().Blocks
		return err == nil && (m == 0 && i == 0) == blockTop && height > lo+span/4 && height < lo+span/2
	}
	for i, tt := range []struct {
		name     string
		blockTop bool // the lie answers a block-top cursor, else a row cursor
		lie      func(l *liar, cell int64, at func(url.Values) bool)
	}{
		{"an empty page", false, func(l *liar, _ int64, at func(url.Values) bool) {
			l.set(func(path string, q url.Values, body map[string]any) bool {
				if path != hiro.V3TransactionsPath || !at(q) {
					return false
				}
				body["results"], body["total"] = []any{}, 0.0
				body["cursor"] = map[string]any{"next": nil, "previous": nil, "current": nil}
				return true
			})
		}},
		{"a full page without a next cursor", false, func(l *liar, cell int64, at func(url.Values) bool) {
			l.set(func(path string, q url.Values, body map[string]any) bool {
				if path != hiro.V3TransactionsPath {
					return false
				}
				// Only a page whose next row is still above the bottom of
				// its first row's cell: a page that reaches a segment's
				// lowest height may end the walk, and its lie is harmless.
				cur, _ := body["cursor"].(map[string]any)
				next, _ := cur["next"].(string)
				res, _ := body["results"].([]any)
				nextHeight, _, _, err := hiro.ParseCursor(next)
				if err != nil || len(res) == 0 {
					return false
				}
				first := int64(res[0].(map[string]any)["block"].(map[string]any)["height"].(float64))
				if nextHeight <= first/cell*cell || !at(q) {
					return false
				}
				cur["next"] = nil
				return true
			})
		}},
		{"a 404 at the top of a block", true, func(l *liar, _ int64, at func(url.Values) bool) {
			l.answer(func(path string, q url.Values) (int, string) {
				if path != hiro.V3TransactionsPath || !at(q) {
					return 0, ""
				}
				return http.StatusNotFound, `{"error":"Cursor not found"}`
			})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backfill.SourceV3, 420+int64(i))
			l := h.throughLiar(backfill.SourceV3)
			var mu sync.Mutex
			var lied string // the one cursor lied about, every time it is asked
			tt.lie(l, h.cfg.SegmentCell, func(q url.Values) bool {
				mu.Lock()
				defer mu.Unlock()
				if lied == "" && midChain(h, q, tt.blockTop) {
					lied = q.Get("cursor")
				}
				return lied != "" && q.Get("cursor") == lied
			})
			sum, err := backfill.Run(context.Background(), h.cfg)
			var gaveUp *backfill.GaveUpError
			if lied == "" {
				t.Fatal("no cursor of the kind was asked for: the test lied about nothing")
			}
			if !errors.As(err, &gaveUp) || !strings.Contains(err.Error(), "ended the walk") || len(sum.Coverage.Missing) == 0 {
				t.Fatalf("lied at %s: err %v, missing %v; want the segment given up on and its time missing", lied, err, sum.Coverage.Missing)
			}
			l.set(nil)
			l.answer(nil)
			sum, err = backfill.Run(context.Background(), h.cfg)
			if err != nil || sum.Coverage.Percent != 100 {
				t.Fatalf("honest rerun: err %v, coverage %.2f", err, sum.Coverage.Percent)
			}
			h.exact()
		})
	}
}

// A server that serves one transaction in two final v1 windows, with two
// burn times, makes the second window's write move the row out of the
// first, which was verified with it. The end-of-iteration audit notices
// the first window no longer holds its rows and fetches it again; when
// the two keep taking the row from each other, one is given up on: the
// run ends with an error naming it and its span missing, never at full
// coverage with a row short. An honest rerun ends exact.
func TestHostileV1TransactionInTwoWindows(t *testing.T) {
	t.Parallel()
	// A fixed tip time, so the plan cuts the same windows on every run:
	// on the wall clock's, some hours put the chain's final history in one
	// window, and the lie needs a second.
	now := time.Date(2026, 5, 4, 13, 7, 0, 0, time.UTC)
	h := newHarnessAt(t, backfill.SourceV1, 303, now)
	h.cfg.Now = func() time.Time { return now }
	h.cfg.Concurrency = 1 // windows oldest first, one after the other
	l := h.throughLiar(backfill.SourceV1)
	var stolen map[string]any
	var from, into string
	l.setOnFinalPages(h, func(q url.Values, body map[string]any, res []any) bool {
		switch {
		case stolen == nil && len(res) > 0: // a row of the first window asked for
			stolen, from = maps.Clone(res[0].(map[string]any)), q.Get("start_time")
			return false
		case stolen == nil || q.Get("start_time") == from || len(res) == 0 || len(res) >= 50:
			return false
		case into != "" && into != q.Get("start_time"):
			return false
		}
		into = q.Get("start_time") // served again on a later window's last page, every time
		start, _ := strconv.ParseFloat(into, 64)
		dup := maps.Clone(stolen)
		dup["burn_block_time"] = start
		body["results"] = append(res, dup)
		body["total"] = body["total"].(float64) + 1
		return true
	})
	sum, err := backfill.Run(context.Background(), h.cfg)
	if into == "" {
		t.Fatal("the test lied about nothing")
	}
	var gaveUp *backfill.GaveUpError
	if !errors.As(err, &gaveUp) || !strings.Contains(err.Error(), "its rows changed after it was verified") || len(sum.Coverage.Missing) == 0 {
		t.Fatalf("row %v of window %s also served in window %s: err %v, coverage %.2f, missing %v; want a window given up on and missing",
			stolen["tx_id"], from, into, err, sum.Coverage.Percent, sum.Coverage.Missing)
	}
	l.set(nil)
	sum, err = backfill.Run(context.Background(), h.cfg)
	if err != nil || sum.Coverage.Percent != 100 {
		t.Fatalf("honest rerun: err %v, coverage %.2f", err, sum.Coverage.Percent)
	}
	h.exact()
}
