package tasks

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/progress"
)

// holder is a server in front of an env's simulator that holds the answer
// to the first request hold matches until a request of every kind in want
// has arrived. A run that sends those only after that answer sees the held
// request time out instead (late).
type holder struct {
	mu       sync.Mutex
	seen     map[string]bool
	arrived  chan struct{}
	held     bool
	together bool
	late     bool
}

// holdUntil puts a holder in front of e's simulator and points e's policy
// at it, with source api.
func holdUntil(t *testing.T, e *env, api string, hold func(*http.Request) bool, want map[string]func(*http.Request) bool) *holder {
	t.Helper()
	h := &holder{seen: map[string]bool{}, arrived: make(chan struct{})}
	sim := e.sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		for what, match := range want {
			if match(r) {
				h.seen[what] = true
			}
		}
		if len(h.seen) == len(want) && !h.together {
			h.together = true
			close(h.arrived)
		}
		first := !h.held && hold(r)
		if first {
			h.held = true
		}
		h.mu.Unlock()
		if first {
			select {
			case <-h.arrived:
			case <-r.Context().Done():
				h.mu.Lock()
				h.late = true // the client timed out: nothing came while it waited
				h.mu.Unlock()
				return
			}
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.writePolicy(srv.URL, "")
	e.useSource(api, "")
	return h
}

// ok tells whether everything wanted arrived while the request was held.
func (h *holder) ok() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.together && !h.late
}

// runExact runs a first backfill, which must complete, and checks that
// the database holds exactly the simulator's history.
func runExact(t *testing.T, e *env) {
	t.Helper()
	sum := mustBackfill(t, e, progress.OutcomeComplete)
	end := time.Unix(sum.Coverage.Horizon.End, 0)
	e.assertEqual(e.sim.GroundTruth(farPast, end), farPast, end)
}

// A first run sends the requests that need no tip (the block that names
// the chain, the newest transaction or page) with the tip's, not after its
// answer, and stores exactly the simulator's history.
func TestStartupRequestsGoWithTheTip(t *testing.T) {
	t.Parallel()
	for _, api := range sources {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, simConfig(1, 62), "")
			isTip := func(r *http.Request) bool { return r.URL.Path == "/extended/v2/blocks" && !r.URL.Query().Has("offset") }
			h := holdUntil(t, e, api, isTip, map[string]func(*http.Request) bool{
				"anchor": func(r *http.Request) bool { return r.URL.Path == "/extended/v2/blocks" && r.URL.Query().Has("offset") },
				"newest": func(r *http.Request) bool {
					q := r.URL.Query()
					return r.URL.Path == "/extended/v1/tx" && q.Get("limit") == "1" && !q.Has("start_time") ||
						r.URL.Path == hiro.V3TransactionsPath && !q.Has("cursor")
				},
			})
			runExact(t, e)
			if !h.ok() {
				t.Fatalf("the tip was answered before the chain's block and the newest %s were asked for", api)
			}
		})
	}
}

// The open v3 walk's second page is asked for once a height lookup has
// answered, while the plan still waits for the others.
func TestV3OpenWalkReadsAheadOfThePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(1, 63), "")
	isLookup := func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/extended/v2/blocks/by-block-time/") }
	h := holdUntil(t, e, backfill.SourceV3, isLookup, map[string]func(*http.Request) bool{
		"second page": func(r *http.Request) bool {
			return r.URL.Path == hiro.V3TransactionsPath && r.URL.Query().Has("cursor")
		},
	})
	runExact(t, e)
	if !h.ok() {
		t.Fatal("the plan's lookups were all answered before the open walk asked for its second page")
	}
}
