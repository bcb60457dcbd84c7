package tasks

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/policy"
)

// The raw cache alone rebuilds every final window: after the database is
// deleted, a new run reads final pages from the cache (deleting and
// re-fetching the ones that no longer decode) and asks the API only for
// the tip and the provisional tail; the result is exact again.
func TestRebuildFromRawCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(2, 31), "horizon:\n  target_days: 3\n  settle_minutes: 120")
	first, err := e.backfill()
	if err != nil {
		t.Fatal(err)
	}
	pol := e.pol()
	var files []string
	_ = filepath.Walk(pol.Paths.RawDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json.gz") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 10 {
		t.Fatalf("only %d raw files", len(files))
	}
	// Corrupt three files three ways: garbage, a cut gzip, valid gzip of
	// invalid JSON.
	_ = os.WriteFile(files[0], []byte("not gzip"), 0o644)
	b, _ := os.ReadFile(files[1])
	_ = os.WriteFile(files[1], b[:len(b)/2], 0o644)
	f, _ := os.Create(files[2])
	zw := gzip.NewWriter(f)
	_, _ = zw.Write([]byte(`{"limit":50,"offset":0,"total":3,"results":[{"tx_id":`))
	_ = zw.Close()
	_ = f.Close()

	for _, p := range []string{pol.Paths.Database, pol.Paths.Database + ".wal"} {
		_ = os.Remove(p)
	}
	e.sim.ResetStats()
	second, err := e.backfill()
	if err != nil {
		t.Fatal(err)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
	if second.CacheHits < int64(len(files))-3 {
		t.Fatalf("rebuild read %d pages from the cache, want at least %d", second.CacheHits, len(files)-3)
	}
	// Network: the tip, the newest transaction, the block that names the
	// chain, the three corrupt pages and the provisional tail.
	tail := first.Pages - int64(len(files))
	if n := e.sim.Stats().Requests; n > tail+3+3 {
		t.Fatalf("rebuild sent %d requests; only the tip, the newest transaction, the chain check, 3 corrupt pages and %d tail pages were needed", n, tail)
	}
}

// BACKFILL_OFFLINE=1 rebuilds every final window from the raw cache with
// no network at all: the API address is a closed port, the simulator sees
// no request, and the rebuilt table is exact over the horizon. Without a
// record of the tip in the cache it refuses (exit 2) before writing.
func TestOfflineRebuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(2, 32), "horizon:\n  target_days: 3\n  settle_minutes: 120")
	e.setenv(policy.EnvOffline, "1")
	e.setenv(policy.EnvAPIURL, closedPort(t))
	if _, err := e.backfill(); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(fmt.Sprint(err), "no record of a chain tip") {
		t.Fatalf("offline over an empty raw cache: %v (exit %d), want exit 2 naming the missing record", err, exitcode.Of(err))
	}
	if _, err := os.Stat(e.pol().Paths.Database); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused offline run left a database behind: %v", err)
	}
	e.setenv(policy.EnvOffline, "")
	e.setenv(policy.EnvAPIURL, "")
	if _, err := e.backfill(); err != nil {
		t.Fatal(err)
	}
	pol := e.pol()
	for _, p := range []string{pol.Paths.Database, pol.Paths.Database + ".wal"} {
		_ = os.Remove(p)
	}
	e.sim.ResetStats()
	e.setenv(policy.EnvOffline, "1")
	e.setenv(policy.EnvAPIURL, closedPort(t))
	var out bytes.Buffer
	sum, err := e.procTo(&out).runBackfill(context.Background(), e.pol())
	if err != nil {
		t.Fatalf("offline rebuild: %v\n%s", err, out.String())
	}
	if n := e.sim.Stats().Requests; n != 0 || sum.Requests != 0 {
		t.Fatalf("the offline rebuild sent %d requests (the simulator saw %d)", sum.Requests, n)
	}
	if sum.Coverage.Percent != 100 || sum.CacheHits == 0 {
		t.Fatalf("offline rebuild: coverage %.2f %%, %d pages from the cache\n%s", sum.Coverage.Percent, sum.CacheHits, out.String())
	}
	e.assertEqual(e.sim.GroundTruth(farPast, time.Unix(sum.Coverage.Horizon.End, 0)), farPast, time.Unix(sum.Coverage.Horizon.End, 0))

	// Status says how much of the horizon the raw cache holds.
	rep, err := e.status()
	if err != nil {
		t.Fatal(err)
	}
	if rep.RawCacheV1Percent == nil || *rep.RawCacheV1Percent != 100 || rep.RawCacheV3Percent != nil {
		t.Fatalf("status: raw cache holds v1 %v, v3 %v of the horizon, want 100 %% and not measured", rep.RawCacheV1Percent, rep.RawCacheV3Percent)
	}
}

// An offline v3 rebuild proves the newest final hours only with a walk
// from the chain tip, which it cannot make: it ends below the policy, and
// exits 3 saying so, so that a CI job does not take it for complete.
func TestOfflineBelowPolicyExits3(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(2, 33), "")
	e.useSource("v3", "horizon:\n  target_days: 3\n  settle_minutes: 120")
	if _, err := e.backfill(); err != nil {
		t.Fatal(err)
	}
	pol := e.pol()
	for _, p := range []string{pol.Paths.Database, pol.Paths.Database + ".wal"} {
		_ = os.Remove(p)
	}
	e.setenv(policy.EnvOffline, "1")
	e.setenv(policy.EnvAPIURL, closedPort(t))
	sum, err := e.procTo(io.Discard).runBackfill(context.Background(), e.pol())
	if sum.Coverage.Percent >= 100 {
		t.Fatalf("offline v3 rebuild reached %.2f %%: the test needs one that cannot", sum.Coverage.Percent)
	}
	if exitcode.Of(err) != exitcode.BelowPolicy || !strings.Contains(fmt.Sprint(err), "without BACKFILL_OFFLINE") {
		t.Fatalf("offline rebuild at %.2f %%: %v (exit %d), want exit 3 naming the way out", sum.Coverage.Percent, err, exitcode.Of(err))
	}
}

// closedPort is the URL of a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}
