package tasks

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/progress"
)

// A first run sends the requests that need no tip (the block that names
// the chain, the newest transaction or page) with the tip's, not after its
// answer: the server holds the first tip answer until it has seen both,
// and a run that sent them one round trip later would see its tip request
// time out instead. The run then stores exactly the simulator's history.
func TestStartupRequestsGoWithTheTip(t *testing.T) {
	t.Parallel()
	for _, api := range sources {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, simConfig(1, 62), "")
			var mu sync.Mutex
			seen := map[string]bool{}
			arrived := make(chan struct{})
			held, together, late := false, false, false
			note := func(what string) {
				mu.Lock()
				defer mu.Unlock()
				seen[what] = true
				if seen["anchor"] && seen["newest"] && !together {
					together = true
					close(arrived)
				}
			}
			sim := e.sim.Handler()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				switch p := r.URL.Path; {
				case p == "/extended/v2/blocks" && q.Has("offset"):
					note("anchor")
				case p == "/extended/v1/tx" && q.Get("limit") == "1" && !q.Has("start_time"),
					p == hiro.V3TransactionsPath && !q.Has("cursor"):
					note("newest")
				case p == "/extended/v2/blocks":
					mu.Lock()
					first := !held
					held = true
					mu.Unlock()
					if first {
						select {
						case <-arrived:
						case <-r.Context().Done():
							mu.Lock()
							late = true // the client timed out: nothing came with the tip
							mu.Unlock()
							return
						}
					}
				}
				sim.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			e.writePolicy(srv.URL, "")
			e.useSource(api, "")
			sum := mustBackfill(t, e, progress.OutcomeComplete)
			mu.Lock()
			ok := together && !late
			mu.Unlock()
			if !ok {
				t.Fatalf("the tip was answered before the chain's block and the newest %s were asked for", api)
			}
			end := time.Unix(sum.Coverage.Horizon.End, 0)
			e.assertEqual(e.sim.GroundTruth(farPast, end), farPast, end)
		})
	}
}
