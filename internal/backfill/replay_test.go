package backfill_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/rawcache"
	"github.com/stxwallets/walletcache/internal/store"
)

// multiPageWindows is the final windows of the first run with more than
// one page, oldest first.
func multiPageWindows(h *harness) []hiro.Window {
	h.t.Helper()
	rows, err := h.st.DB().Query(`SELECT start_time, end_time FROM windows WHERE final AND verified AND api_total > ? ORDER BY start_time`, hiro.PageLimit)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []hiro.Window
	for rows.Next() {
		var w hiro.Window
		if err := rows.Scan(&w.Start, &w.End); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, w)
	}
	if len(out) < 3 {
		h.t.Fatalf("only %d multi-page windows: the test wants 3", len(out))
	}
	return out
}

// rewritePage changes a cached v1 page's JSON in place.
func rewritePage(h *harness, key string, change func(page map[string]any)) {
	h.t.Helper()
	body, ok, err := h.cache.Get(key)
	if err != nil || !ok {
		h.t.Fatalf("cached page %s: %v %v", key, ok, err)
	}
	var page map[string]any
	if err := json.Unmarshal(body, &page); err != nil {
		h.t.Fatal(err)
	}
	change(page)
	if body, err = json.Marshal(page); err != nil {
		h.t.Fatal(err)
	}
	if err := h.cache.Put(key, body); err != nil {
		h.t.Fatal(err)
	}
}

// A rebuild with the raw cache complete loads every final window in one
// bulk load (no page bookkeeping is written for them) and asks the API only
// for the provisional tail; the table equals the truth.
func TestReplayRebuildsInBulk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 701)
	h.mustRun()
	before := h.sim.Stats()
	h.open("rebuilt.duckdb")
	second := h.mustRun()
	h.exact()
	var bookkept int64
	if err := h.st.DB().QueryRow(`SELECT count(*) FROM window_pages p JOIN windows w USING (window_id) WHERE w.final`).Scan(&bookkept); err != nil {
		t.Fatal(err)
	}
	final, listed := h.finalListRequests(before, second.Coverage.Horizon.End)
	t.Logf("rebuild: %d cache hits, %d list requests, %d for final history", second.CacheHits, listed, len(final))
	if bookkept != 0 {
		t.Fatalf("%d pages of final windows went through the page committer: the replay did not take them", bookkept)
	}
	if second.CacheHits == 0 || len(final) != 0 {
		t.Fatalf("rebuild: %d cache hits; final history requested again: %v", second.CacheHits, final)
	}
}

// Cached windows that cannot be replayed whole and true are left to the
// API, which fetches them afresh: a window with a page missing, one whose
// page lost a row (the total no longer adds up) and one whose total was
// raised. The table still equals the truth, and the bad pages are replaced.
func TestReplayLeavesBadWindowsToTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 702)
	h.cfg.WindowRows = 500 // windows of a few pages: the test spoils three
	h.mustRun()
	ws := multiPageWindows(h)
	missing, short, raised := ws[0], ws[len(ws)/2], ws[len(ws)-1]
	if err := h.cache.Delete(backfill.CacheKey(backfill.SourceV1, missing, hiro.PageLimit)); err != nil {
		t.Fatal(err)
	}
	rewritePage(h, backfill.CacheKey(backfill.SourceV1, short, 0), func(p map[string]any) {
		p["results"] = p["results"].([]any)[1:]
	})
	rewritePage(h, backfill.CacheKey(backfill.SourceV1, raised, 0), func(p map[string]any) {
		p["total"] = p["total"].(float64) + 1
	})
	listed := h.listRequests()
	h.open("rebuilt.duckdb")
	h.mustRun()
	h.exact()
	if fetched := h.listRequests() - listed; fetched < 3 {
		t.Fatalf("%d list requests: the three bad windows were not fetched again", fetched)
	}
	// What the API sent replaced the bad pages: a third build replays all.
	h.open("third.duckdb")
	h.mustRun()
	h.exact()
	var bookkept int64
	if err := h.st.DB().QueryRow(`SELECT count(*) FROM window_pages p JOIN windows w USING (window_id) WHERE w.final`).Scan(&bookkept); err != nil {
		t.Fatal(err)
	}
	if bookkept != 0 {
		t.Fatalf("%d final pages were fetched on the third build: the bad pages were not replaced", bookkept)
	}
}

// A v3 rebuild over a raw cache with holes (every seventh page gone) and a
// stale row in the new database: walks switch between runs of cached pages
// written in bulk and fetched pages committed one by one, and the table
// still equals the truth, the stale row deleted.
func TestV3RebuildOverACacheWithHoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV3, 703)
	h.mustRun()
	files, err := filepath.Glob(filepath.Join(h.dir, "raw", "*", "v3_*"+rawcache.Ext))
	if err != nil || len(files) < 20 {
		t.Fatalf("%d cached v3 pages: %v", len(files), err)
	}
	sort.Strings(files)
	for i, f := range files {
		if i%7 == 3 {
			if err := h.cache.Delete(strings.TrimSuffix(filepath.Base(f), rawcache.Ext)); err != nil {
				t.Fatal(err)
			}
		}
	}
	truth := h.sim.All()
	stale := truth[len(truth)/3]
	stale.TxID = "0x" + strings.Repeat("5", 64) // a row no walk will see
	h.open("rebuilt.duckdb")
	if _, err := h.st.CommitPages(context.Background(), []store.Page{{WindowID: 1 << 40, Attempt: 1, Txs: []chain.Tx{stale}}}); err != nil {
		t.Fatal(err)
	}
	sum := h.mustRun()
	h.exact()
	if sum.CacheHits == 0 {
		t.Fatal("the rebuild read nothing from the cache")
	}
}

// cancellingCache is a raw cache that cancels the run after a number of
// reads, as Ctrl+C would in the middle of a replay.
type cancellingCache struct {
	*rawcache.Cache
	after  int64
	reads  atomic.Int64
	cancel context.CancelFunc
}

func (c *cancellingCache) Get(key string) ([]byte, bool, error) {
	if c.reads.Add(1) == c.after {
		c.cancel()
	}
	return c.Cache.Get(key)
}

// Ctrl+C during a replay keeps the windows read whole, each verified, and
// ends the run as interrupted; the next run finishes, and the table equals
// the truth.
func TestReplayInterrupted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backfill.SourceV1, 704)
	h.mustRun()
	h.open("rebuilt.duckdb")
	ctx, cancel := context.WithCancel(context.Background())
	cfg := h.cfg
	cfg.Cache = &cancellingCache{Cache: h.cache, after: 30, cancel: cancel}
	sum, err := backfill.Run(ctx, cfg)
	if !errors.Is(err, backfill.ErrInterrupted) {
		t.Fatalf("interrupted replay: %v", err)
	}
	if sum.WindowsVerified == 0 {
		t.Fatal("no window read whole before the interrupt was kept")
	}
	wins, err := h.st.Windows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wins {
		if w.Covered() {
			h.exactIn(store.Span{Start: w.Start, End: w.End})
		}
	}
	h.mustRun()
	h.exact()
}
