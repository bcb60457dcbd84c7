package backfill_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/store"
	"github.com/stxwallets/walletcache/internal/store/storetest"
)

// newDenseHarness is a v1 harness over a day of a chain about as busy as
// mainnet (some 18,000 transactions a day), its tip fixed at now.
func newDenseHarness(t *testing.T, seed int64, now time.Time) *harness {
	t.Helper()
	h := newHarnessOf(t, backfill.SourceV1, hirosim.Config{Seed: seed, Now: now, History: 26 * time.Hour, BlockInterval: 5 * time.Second, TxPerBlock: 1})
	h.cfg.TargetDays = 1
	h.cfg.Now = func() time.Time { return now } // the same plan every time
	return h
}

// windowStat is what the windows table says of one run's final v1
// windows: how many, their rows, the most rows one spanning more than an
// hour holds, and their spans.
type windowStat struct {
	n, maxRows, rows int64
	spans            map[[2]int64]bool
}

func finalWindows(h *harness) windowStat {
	h.t.Helper()
	rows, err := h.st.DB().Query(`SELECT start_time, end_time, api_total FROM windows WHERE final AND verified`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	s := windowStat{spans: map[[2]int64]bool{}}
	for rows.Next() {
		var a, b, n int64
		if err := rows.Scan(&a, &b, &n); err != nil {
			h.t.Fatal(err)
		}
		s.n++
		s.rows += n
		if b-a+1 > 3600 { // one cell of the grid cannot be cut
			s.maxRows = max(s.maxRows, n)
		}
		s.spans[[2]int64{a, b}] = true
	}
	return s
}

// cuts counts the first pages the server sent for windows that no stored
// window has: windows cut back because their first page held too many rows.
func cuts(h *harness, s windowStat, finalEdge int64) int {
	h.t.Helper()
	n := 0
	for key := range h.sim.Stats().Requested {
		path, query, _ := strings.Cut(key, "?")
		q, err := url.ParseQuery(query)
		if err != nil || path != "/extended/v1/tx" || q.Get("offset") != "0" || q.Get("start_time") == "" {
			continue
		}
		a, _ := strconv.ParseInt(q.Get("start_time"), 10, 64)
		b, _ := strconv.ParseInt(q.Get("end_time"), 10, 64)
		if b <= finalEdge && !s.spans[[2]int64{a, b}] {
			n++
		}
	}
	return n
}

// At mainnet's density v1 windows are sized by the rows they hold, not by
// the hour: a fresh run learns the density from its first page and cuts a
// day into a handful of windows of at most 15,000 rows, so that the partial
// last pages cost under 1 % of the pages, and the table equals the truth.
// A smaller row cap cuts the first window (sized before anything was
// known) back before paging it, and no window of more than one cell holds
// more than the cap.
func TestV1WindowsFollowDensity(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 4, 13, 7, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		rows      int64 // Config.WindowRows
		maxExtra  float64
		wantCuts  bool
		maxWindow int64
		merged    bool // windows of several cells, as few as the target allows
	}{
		{"default cap", 0, 0.01, false, backfill.DefaultWindowRows, true},
		{"a cap of 2000 rows", 2000, 0.035, true, 2000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newDenseHarness(t, 801, now)
			h.cfg.WindowRows = tt.rows
			sum := h.mustRun()
			h.exactIn(store.Span{Start: sum.Coverage.Horizon.Start, End: storetest.FarFuture.Unix()})
			stored := int64(len(storetest.Rows(t, h.st.DB())))
			minPages := (stored + hiro.PageLimit - 1) / hiro.PageLimit
			s := finalWindows(h)
			c := cuts(h, s, sum.Coverage.Horizon.End)
			extra := float64(sum.Pages-minPages) / float64(minPages)
			t.Logf("%d rows, %d pages (%d at least, %.2f %% extra), %d final windows of at most %d rows, %d cut back",
				stored, sum.Pages, minPages, 100*extra, s.n, s.maxRows, c)
			if s.maxRows > tt.maxWindow {
				t.Fatalf("a window holds %d rows, more than the cap of %d", s.maxRows, tt.maxWindow)
			}
			if want := s.rows/int64(float64(tt.maxWindow)*0.7) + 3; tt.merged && s.n > want { // sized for 70 % of the cap
				t.Fatalf("%d final windows for %d rows: want at most %d (windows merged up to the cap)", s.n, s.rows, want)
			}
			if extra > tt.maxExtra {
				t.Fatalf("%.2f %% more pages than the rows need, want at most %.0f %%", 100*extra, 100*tt.maxExtra)
			}
			if (c > 0) != tt.wantCuts || c > 2 {
				t.Fatalf("%d windows cut back, want some: %v (and at most 2)", c, tt.wantCuts)
			}
		})
	}
}

// A rebuild over a raw cache whose windows were cut by other runs (another
// row cap, then a refresh that cut them again, overlapping the first, on
// another grid) reads every final window from the cache: no list request
// asks for final history, online or offline, and the table equals the truth.
func TestRebuildOverOtherWindowSizes(t *testing.T) {
	t.Parallel()
	h := newHarnessAt(t, backfill.SourceV1, 802, time.Now().UTC().Truncate(time.Minute))
	h.cfg.WindowRows = 300 // windows of a few hours
	first := h.mustRun()
	small := finalWindows(h)

	h.open("refreshed.duckdb") // every page fetched again, in windows of the default size
	h.cfg.WindowRows, h.cfg.ForceRefresh, h.cfg.Window = 0, true, 2*time.Hour
	h.mustRun()
	h.exact()
	large := finalWindows(h)
	if large.n >= small.n {
		t.Fatalf("the refresh cut %d windows, the first run %d: the sizes did not differ", large.n, small.n)
	}

	h.open("rebuilt.duckdb")
	h.cfg.ForceRefresh, h.cfg.Window = false, 15*time.Minute
	before := h.sim.Stats()
	second := h.mustRun()
	h.exact()
	final, listed := h.finalListRequests(before, second.Coverage.Horizon.End)
	t.Logf("windows: %d, then %d; rebuild: %d cache hits, %d list requests, %d for final history (first run %d pages)",
		small.n, large.n, second.CacheHits, listed, len(final), first.Pages)
	if second.CacheHits == 0 || len(final) != 0 {
		t.Fatalf("rebuild: %d cache hits; final history requested again: %v", second.CacheHits, final)
	}
	for sp := range finalWindows(h).spans {
		if !small.spans[sp] && !large.spans[sp] {
			t.Fatalf("the rebuild verified window %v, which no earlier run cut: it was not read from the cache", sp)
		}
	}

	before = h.sim.Stats()
	h.goOffline()
	h.open("offline.duckdb")
	h.cfg.Window = 3 * time.Hour
	sum, err := backfill.Run(t.Context(), h.cfg)
	if err != nil {
		t.Fatalf("offline rebuild: %v", err)
	}
	if n := h.sim.Stats().Requests - before.Requests; n != 0 {
		t.Fatalf("the offline rebuild sent %d requests", n)
	}
	h.exactIn(store.Span{Start: storetest.FarPast.Unix(), End: h.offlineCovered(sum)})
}
