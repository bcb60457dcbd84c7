package tasks

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/progress"
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

// A server that cannot be reached ends the backfill quickly with one line
// saying what to do, and leaves neither a database nor a progress file.
func TestBackfillUnreachableServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	e := newEnv(t, simConfig(1, 5), "")
	e.setenv("HIRO_API_URL", dead)
	var out bytes.Buffer
	start := time.Now()
	err = Backfill(context.Background(), e.procTo(&out))
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("took %s to give up", took)
	}
	if exitcode.Of(err) != exitcode.Failure {
		t.Fatalf("exit %d: %v", exitcode.Of(err), err)
	}
	msg := err.Error()
	for _, want := range []string{"cannot reach " + dead, "connection refused", "check the network or HIRO_API_URL; `mage demo` runs offline"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Count(msg, dead) != 1 || strings.Contains(msg, "\n") {
		t.Errorf("want one line naming the address once: %q", msg)
	}
	db := e.pol().Paths.Database
	for _, p := range []string{db, progress.PathFor(db)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after no page was fetched (%v)", p, err)
		}
	}
}
