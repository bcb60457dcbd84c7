package backfill_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/rawcache"
	"github.com/stxwallets/walletcache/internal/store"
	"github.com/stxwallets/walletcache/internal/store/storetest"
)

// The conformance suite: every source runs the same scenarios against the
// simulator and must leave exactly its ground truth. Adding a source is one
// entry in sources.
var sources = []struct {
	name string
	// make builds the run's sources over one client (one rate budget).
	make func(c *hiro.Client) (v1, v3 backfill.Source)
}{
	{backfill.SourceV1, func(c *hiro.Client) (backfill.Source, backfill.Source) { return backfill.NewV1(c), nil }},
	{backfill.SourceV3, func(c *hiro.Client) (backfill.Source, backfill.Source) { return nil, backfill.NewV3(c) }},
}

// harness is one scenario's scratch world: a simulator, a client with a
// request hook, a store and a raw cache.
type harness struct {
	t      *testing.T
	sim    *hirosim.Sim
	url    string // the simulator's
	client *hiro.Client
	dir    string
	st     *store.Store
	cache  *rawcache.Cache
	cfg    backfill.Config
	// onRequest, when set, runs before every request the client sends.
	onRequest atomic.Pointer[func()]
}

// days of history the scenario chains have; the horizon matches them.
const chainDays = 2

func newHarness(t *testing.T, source string, seed int64) *harness {
	t.Helper()
	return newHarnessAt(t, source, seed, time.Time{})
}

// newHarnessAt is newHarness with the chain's tip time fixed at now (zero:
// the wall clock), so that harnesses of two sources serve the same chain.
func newHarnessAt(t *testing.T, source string, seed int64, now time.Time) *harness {
	t.Helper()
	return newHarnessOf(t, source, hirosim.Config{Seed: seed, Now: now})
}

// newHarnessOf is newHarness over a simulator configured by cfg, whose
// history, block interval and density the harness sets when cfg does not.
func newHarnessOf(t *testing.T, source string, cfg hirosim.Config) *harness {
	t.Helper()
	if cfg.History == 0 {
		cfg.History, cfg.BlockInterval, cfg.TxPerBlock = chainDays*24*time.Hour, time.Minute, 1
	}
	sim := hirosim.New(cfg)
	url := sim.Start()
	t.Cleanup(sim.Close)
	h := &harness{t: t, sim: sim, url: url, dir: t.TempDir()}
	client, err := hiro.New(hiro.Options{
		BaseURL: url, RequestsPerMinute: 1e6, RequestsPerSecond: 1e5, Concurrency: 4,
		Timeout: 2 * time.Second, MaxRetries: 8, MaxWait: time.Minute, BackoffBase: time.Millisecond,
		HTTPClient: &http.Client{Transport: hookTransport{h}},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.client = client
	h.cache = rawcache.New(filepath.Join(h.dir, "raw"))
	h.open("wallet_metrics.duckdb")
	var v1, v3 backfill.Source
	for _, s := range sources {
		if s.name == source {
			v1, v3 = s.make(client)
		}
	}
	h.cfg = backfill.Config{
		Store: h.st, V1: v1, V3: v3, API: source, Cache: h.cache,
		TargetDays: chainDays + 1, Settle: 2 * time.Hour, Recheck: 6 * time.Hour, Window: time.Hour, SegmentCell: 200,
		MaxPages: 5000, Concurrency: 4, Stall: time.Minute, LogEvery: time.Minute, Logger: testLogger(t),
	}
	return h
}

// open (re)opens the store at name in the scratch folder.
func (h *harness) open(name string) {
	h.t.Helper()
	if h.st != nil {
		h.st.Close()
	}
	st, err := store.Open(context.Background(), filepath.Join(h.dir, name), store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	h.cfg.Store = st
	h.t.Cleanup(func() { st.Close() })
}

// hookTransport runs the harness's request hook, then the default transport.
type hookTransport struct{ h *harness }

func (t hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f := t.h.onRequest.Load(); f != nil {
		(*f)()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// mustRun runs the backfill, which must complete with 100 % coverage.
func (h *harness) mustRun() backfill.Summary {
	h.t.Helper()
	sum, err := backfill.Run(context.Background(), h.cfg)
	if err != nil {
		h.t.Fatalf("backfill: %v", err)
	}
	if sum.Outcome != progress.OutcomeComplete || sum.Coverage.Percent != 100 {
		h.t.Fatalf("outcome %s coverage %.3f (%s), want complete at 100 %%", sum.Outcome, sum.Coverage.Percent, sum.Message)
	}
	return sum
}

// exact checks the whole database against the simulator's chain.
func (h *harness) exact() {
	h.t.Helper()
	storetest.AssertExact(h.t, storetest.Rows(h.t, h.st.DB()), h.sim.All(), storetest.FarPast, storetest.FarFuture)
}

// exactIn checks the database against the chain for burn times in span.
func (h *harness) exactIn(sp store.Span) {
	h.t.Helper()
	from, to := time.Unix(sp.Start, 0), time.Unix(sp.End, 0)
	storetest.AssertExact(h.t, storetest.Rows(h.t, h.st.DB()), h.sim.GroundTruth(from, to), from, to)
}

// listRequests counts the transaction-list requests the simulator received.
func (h *harness) listRequests() int64 {
	st := h.sim.Stats()
	return st.ByRoute["/extended/v1/tx"] + st.ByRoute["/extended/v3/transactions"]
}

// finalListRequests reads, from what the simulator received since before,
// the transaction-list requests and those of them that asked for final
// history: a v1 window ending at or before finalEdge, or a v3 page below
// the heights that hold provisional rows.
func (h *harness) finalListRequests(before hirosim.Stats, finalEdge int64) (final []string, listed int64) {
	h.t.Helper()
	after := h.sim.Stats()
	ref, err := h.client.BlockAtTime(context.Background(), finalEdge-int64(h.cfg.Settle/time.Second))
	if err != nil {
		h.t.Fatal(err)
	}
	finalBelow := ref.Height + 1
	for key, n := range after.Requested {
		n -= before.Requested[key]
		path, query, _ := strings.Cut(key, "?")
		if n <= 0 || (path != "/extended/v1/tx" && path != "/extended/v3/transactions") {
			continue
		}
		listed += n
		q, err := url.ParseQuery(query)
		if err != nil {
			h.t.Fatal(err)
		}
		end, err := strconv.ParseInt(q.Get("end_time"), 10, 64)
		v1Final := err == nil && end <= finalEdge
		height, _, _, err := hiro.ParseCursor(q.Get("cursor"))
		v3Final := err == nil && q.Get("cursor") != "" && height < finalBelow
		if v1Final || v3Final {
			final = append(final, key)
		}
	}
	return final, listed
}

// goOffline makes the run offline, over a client whose server fails the
// test on any request: nothing may reach the network.
func (h *harness) goOffline() {
	h.t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.t.Errorf("an offline run sent %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	h.t.Cleanup(srv.Close)
	client, err := hiro.New(hiro.Options{
		BaseURL: srv.URL, RequestsPerMinute: 1e6, RequestsPerSecond: 1e5, Concurrency: 4,
		Timeout: time.Second, MaxRetries: 0, MaxWait: time.Second, BackoffBase: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range sources {
		if s.name == h.cfg.API {
			h.cfg.V1, h.cfg.V3 = s.make(client)
		}
	}
	h.cfg.Offline = true
}

// offlineCovered checks what an offline rebuild covered and returns the
// burn time up to which it holds the whole horizon. v1 rebuilds every final
// window. v3 proves the newest final hours only by a walk from the chain
// tip, which needs the server: its one missing range is at the top, about
// twice the settle margin.
func (h *harness) offlineCovered(sum backfill.Summary) int64 {
	h.t.Helper()
	cov := sum.Coverage
	if h.cfg.API == backfill.SourceV1 {
		if sum.Outcome != progress.OutcomeComplete || cov.Percent != 100 {
			h.t.Fatalf("offline v1 rebuild: outcome %s, coverage %.3f %% (%s), want complete", sum.Outcome, cov.Percent, sum.Message)
		}
		return cov.Horizon.End
	}
	top := cov.Horizon.End - 3*int64(h.cfg.Settle/time.Second)
	if len(cov.Missing) != 1 || cov.Missing[0].End != cov.Horizon.End || cov.Missing[0].Start < top {
		h.t.Fatalf("offline v3 rebuild: missing %v of horizon %v, want one range in the last 3 settle margins", cov.Missing, cov.Horizon)
	}
	if !strings.Contains(sum.Message, "offline") {
		h.t.Fatalf("offline v3 rebuild: the summary does not say why the top is missing: %q", sum.Message)
	}
	return cov.Missing[0].Start - 1
}

// scenarios are run by every source.
var scenarios = []struct {
	name string
	run  func(h *harness)
}{
	{"clean run, then a cheap second run", func(h *harness) {
		first := h.mustRun()
		h.exact()
		before := h.sim.Stats().Requests
		second := h.mustRun()
		if extra := h.sim.Stats().Requests - before; extra > first.Requests/4 {
			h.t.Fatalf("the second run sent %d requests, the first %d: covered history was fetched again", extra, first.Requests)
		}
		if second.WindowsVerified > 4 {
			h.t.Fatalf("the second run verified %d windows again", second.WindowsVerified)
		}
		h.exact()
	}},
	{"faults and a growing chain", func(h *harness) {
		h.sim.SetFaults(hirosim.Faults{
			Rate429: 0.03, RetryAfter: time.Millisecond, Rate5xx: 0.05, RateTruncate: 0.05,
			RateSlow: 0.01, SlowDelay: 3 * time.Second, // past the client's 2 s timeout
			GrowEvery: 50 * time.Millisecond, GrowBlocks: 1, GrowTenureBlocks: 5,
		})
		sum := h.mustRun()
		if st := h.sim.Stats(); st.Status429 == 0 || st.Status5xx == 0 || st.Truncated == 0 {
			h.t.Fatalf("faults did not fire: 429 %d, 5xx %d, truncated %d", st.Status429, st.Status5xx, st.Truncated)
		}
		h.exactIn(store.Span{Start: 0, End: sum.Coverage.Horizon.End})
		h.sim.SetFaults(hirosim.Faults{})
		h.mustRun()
		h.exact()
	}},
	{"a reorg at the tip", func(h *harness) {
		h.mustRun()
		before := h.sim.All()
		h.sim.Reorg(6)
		if sameIDs(before, h.sim.All()) {
			h.t.Fatal("the reorg changed nothing")
		}
		sum := h.mustRun()
		if sum.RowsDeleted == 0 {
			h.t.Fatal("no row was deleted, yet the reorg dropped transactions")
		}
		h.exact()
	}},
	{"Ctrl+C mid-run, then resume", func(h *harness) {
		ctx, cancel := context.WithCancel(context.Background())
		var n atomic.Int64
		hook := func() {
			if n.Add(1) == 40 {
				cancel()
			}
		}
		h.onRequest.Store(&hook)
		sum, err := backfill.Run(ctx, h.cfg)
		h.onRequest.Store(nil)
		if !errors.Is(err, backfill.ErrInterrupted) || sum.Outcome != progress.OutcomeInterrupted {
			h.t.Fatalf("interrupted run: %v, outcome %s", err, sum.Outcome)
		}
		if sum.Pages == 0 {
			h.t.Fatal("nothing was committed before the interrupt")
		}
		h.mustRun()
		h.exact()
	}},
	{"a small page budget: iterations resume where the last stopped", func(h *harness) {
		h.cfg.MaxPages = 9
		sum := h.mustRun()
		if sum.Iterations < 3 {
			h.t.Fatalf("%d iterations: the budget did not bite", sum.Iterations)
		}
		h.exact()
	}},
	{"rebuild from the raw cache", func(h *harness) {
		first := h.mustRun()
		before := h.sim.Stats()
		h.open("rebuilt.duckdb")
		second := h.mustRun()
		h.exact()
		final, listed := h.finalListRequests(before, second.Coverage.Horizon.End)
		h.t.Logf("rebuild: %d of %d pages from the cache, %d list requests (first run %d pages), %d of them for final history",
			second.CacheHits, second.Pages, listed, first.Pages, len(final))
		// Only the provisional tail and the newest page go to the server.
		if second.CacheHits == 0 || len(final) != 0 || listed > second.Pages-second.CacheHits+int64(second.Iterations)+1 {
			h.t.Fatalf("rebuild: %d cache hits, %d list requests for %d pages; final history requested again: %v",
				second.CacheHits, listed, second.Pages, final)
		}
	}},
	{"an offline rebuild sends no request", func(h *harness) {
		h.mustRun()
		before := h.sim.Stats().Requests
		h.goOffline()
		h.open("offline.duckdb")
		sum, err := backfill.Run(context.Background(), h.cfg)
		if err != nil {
			h.t.Fatalf("offline rebuild: %v", err)
		}
		if n := h.sim.Stats().Requests - before; n != 0 {
			h.t.Fatalf("the offline rebuild sent %d requests to the simulator", n)
		}
		upTo := h.offlineCovered(sum)
		h.exactIn(store.Span{Start: storetest.FarPast.Unix(), End: upTo})
		h.t.Logf("offline rebuild: %s, %.2f %% covered, %d pages from the cache, %d requests", sum.Outcome, sum.Coverage.Percent, sum.CacheHits, sum.Requests)

		// A page the cache lacks is not fetched: its unit stays missing,
		// the run says which and exits 3.
		keys, err := h.cache.Keys()
		if err != nil || len(keys) < 10 {
			h.t.Fatalf("raw cache keys: %d, %v", len(keys), err)
		}
		if err := h.cache.Delete(keys[len(keys)/2]); err != nil {
			h.t.Fatal(err)
		}
		h.open("offline2.duckdb")
		sum, err = backfill.Run(context.Background(), h.cfg)
		var inc *backfill.OfflineIncompleteError
		if !errors.As(err, &inc) || exitcode.Of(err) != exitcode.BelowPolicy || len(inc.Units) != 1 || !strings.Contains(err.Error(), keys[len(keys)/2]) {
			h.t.Fatalf("offline rebuild with a page missing: %v (exit %d), want one unit missing naming %s", err, exitcode.Of(err), keys[len(keys)/2])
		}
		if sum.Coverage.Percent >= 100 || sum.CacheHits == 0 {
			h.t.Fatalf("offline rebuild with a page missing: coverage %.2f %%, %d pages from the cache", sum.Coverage.Percent, sum.CacheHits)
		}
		if n := h.sim.Stats().Requests - before; n != 0 {
			h.t.Fatalf("the offline rebuild sent %d requests to the simulator", n)
		}
	}},
	{"a rebuild under another plan still reads the raw cache", func(h *harness) {
		h.mustRun()
		u, err := h.cache.Usage()
		if err != nil || u.Files == 0 {
			h.t.Fatalf("raw cache after the first run: %+v %v", u, err)
		}
		// Other workers run the work differently; the plan finds the
		// cached windows whatever they are.
		h.open("rebuilt.duckdb")
		h.cfg.Concurrency = 3
		second := h.mustRun()
		h.exact()
		h.t.Logf("rebuild with another plan: %d of %d cached pages served", second.CacheHits, u.Files)
		if second.CacheHits < int64(u.Files)*9/10 {
			h.t.Fatalf("the rebuild served %d of the %d cached pages: the plan's pages did not repeat", second.CacheHits, u.Files)
		}
	}},
	{"the horizon grows backwards: a gap below covered history", func(h *harness) {
		h.cfg.TargetDays = 1
		h.mustRun()
		h.cfg.TargetDays = chainDays + 1
		before := h.sim.Stats().Requests
		sum := h.mustRun()
		if n := h.sim.Stats().Requests - before; n == 0 || n > 300 {
			h.t.Fatalf("the wider horizon took %d requests", n)
		}
		h.exactIn(store.Span{Start: sum.Coverage.Horizon.Start, End: storetest.FarFuture.Unix()})
	}},
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for _, src := range sources {
				t.Run(src.name, func(t *testing.T) {
					t.Parallel()
					sc.run(newHarness(t, src.name, int64(100+i)))
				})
			}
		})
	}
}

func sameIDs(a, b []chain.Tx) bool {
	if len(a) != len(b) {
		return false
	}
	ids := map[string]bool{}
	for _, x := range a {
		ids[x.TxID] = true
	}
	for _, x := range b {
		if !ids[x.TxID] {
			return false
		}
	}
	return true
}

// Every source stores exactly the same rows, every column, from the same
// chain over the horizon they all covered.
func TestSourcesAgree(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Minute)
	type result struct {
		rows    []chain.Tx
		horizon store.Span
	}
	got := make([]result, len(sources))
	t.Run("run", func(t *testing.T) {
		for i, src := range sources {
			t.Run(src.name, func(t *testing.T) {
				t.Parallel()
				h := newHarnessAt(t, src.name, 401, now)
				sum := h.mustRun()
				got[i] = result{storetest.Rows(t, h.st.DB()), sum.Coverage.Horizon}
			})
		}
	})
	if t.Failed() {
		return
	}
	lo, hi := got[0].horizon.Start, got[0].horizon.End
	for _, g := range got[1:] {
		lo, hi = max(lo, g.horizon.Start), min(hi, g.horizon.End)
	}
	from, to := time.Unix(lo, 0), time.Unix(hi, 0)
	var want []chain.Tx
	for _, x := range got[0].rows {
		if !x.BurnBlockTime.Before(from) && !x.BurnBlockTime.After(to) {
			want = append(want, x)
		}
	}
	if len(want) == 0 {
		t.Fatal("no rows in the common horizon")
	}
	for i, g := range got[1:] {
		t.Logf("%s vs %s: %d rows in the common horizon", sources[0].name, sources[i+1].name, len(want))
		storetest.AssertExact(t, g.rows, want, from, to)
	}
}

// Off a terminal (no Observer) a run logs a progress line every LogEvery,
// with pages, rows, rate, ETA and coverage, so a CI log is never silent
// for long.
func TestProgressLineOffATerminal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 601)
	h.sim.SetFaults(hirosim.Faults{Latency: 20 * time.Millisecond}) // a run of a few seconds
	var logs syncBuffer
	h.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	h.cfg.LogEvery = time.Nanosecond // every publish tick (1 s)
	sum := h.mustRun()
	if sum.Elapsed < 2*time.Second {
		t.Skipf("the run took %s, too short for a publish tick to fall inside it", sum.Elapsed)
	}
	out := logs.String()
	if !strings.Contains(out, `msg="backfill progress"`) {
		t.Fatalf("no progress line in a %s run:\n%s", sum.Elapsed, out)
	}
	for _, key := range []string{"pages=", "rows=", "tx_per_second=", "eta=", "coverage_percent="} {
		if !strings.Contains(out, key) {
			t.Errorf("the progress line lacks %s", key)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the run's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A raw cache with nothing to replay stays out of the info log: a first
// run's iteration lines all name the API source. A rebuild that replays
// the cache logs its replay pass.
func TestEmptyReplayIsNotLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 602)
	var first syncBuffer
	h.cfg.Logger = slog.New(slog.NewTextHandler(&first, nil))
	h.mustRun()
	if out := first.String(); strings.Contains(out, `source="raw cache"`) || !strings.Contains(out, `msg="iteration planned" iteration=1 source=v1`) {
		t.Errorf("a first run's log should hold only v1 iterations:\n%s", out)
	}
	h.open("rebuilt.duckdb")
	var rebuild syncBuffer
	h.cfg.Logger = slog.New(slog.NewTextHandler(&rebuild, nil))
	h.mustRun()
	if out := rebuild.String(); !strings.Contains(out, `msg="iteration planned" iteration=1 source="raw cache"`) {
		t.Errorf("a rebuild should log its replay of the raw cache:\n%s", out)
	}
}
