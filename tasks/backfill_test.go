package tasks

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// A clean run stores exactly the simulated chain, reaches 100 % coverage,
// and a second run serves final windows from the raw cache and changes
// nothing.
func TestBackfillExactAndResumable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(3, 1), "")
	sum, err := e.backfill()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != "complete" || sum.Coverage.Percent != 100 {
		t.Fatalf("outcome %s coverage %.3f", sum.Outcome, sum.Coverage.Percent)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)

	before := e.sim.Stats().Requests
	sum2, err := e.backfill()
	if err != nil {
		t.Fatal(err)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
	// The second run re-fetches only the provisional tail and the tip.
	if extra := e.sim.Stats().Requests - before; extra > sum.Requests/4 {
		t.Fatalf("second run sent %d requests (first sent %d): verified windows were fetched again", extra, sum.Requests)
	}
	if sum2.Coverage.Percent != 100 {
		t.Fatalf("second run coverage %.3f", sum2.Coverage.Percent)
	}
	// Only the tip and provisional windows are fetched again; a page of a
	// final window is served once, ever.
	for _, k := range e.sim.Stats().ServedTwice() {
		if finalPage(k, sum.Coverage.Horizon.End) {
			t.Fatalf("page of a final window served twice: %s", k)
		}
	}
}

// finalPage tells whether a served request key is a /extended/v1/tx page
// of a window that ends at or before finalEdge.
func finalPage(key string, finalEdge int64) bool {
	path, query, _ := strings.Cut(key, "?")
	if path != "/extended/v1/tx" {
		return false
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return false
	}
	end, err := strconv.ParseInt(q.Get("end_time"), 10, 64)
	return err == nil && end <= finalEdge
}

// The v1 sunset on a server without v3 is a clear failure, not a hang
// (with v3 the run switches: sources_test.go).
func TestBackfillV1Gone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(1, 4), "")
	e.sim.SetFaults(hirosim.Faults{V1Gone: true, V3Absent: true})
	_, err := e.backfill()
	if err == nil || exitcode.Of(err) != exitcode.Failure {
		t.Fatalf("want a failure naming the sunset, got %v", err)
	}
}
