package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/policy"
)

// Dashboards chain on coverage: below policy they run the backfill first;
// at policy they touch no Hiro route; the artifacts pass the smoke checks
// and publish copies them with a manifest.
func TestDashboardsChainSmokePublish(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(8, 21), "")
	url := e.url()
	// Six-hour windows: the dashboards need the rows, not the hour grid.
	e.writePolicy(url, "backfill:\n  max_pages: 100000\n  max_iterations: 0\n  window_minutes: 360\n\nhorizon:\n  target_days: 9\n  settle_minutes: 120\n\ndashboards:\n  wallet_max_days: 30\n  wallet_windows: [3, 7]\n  prices:\n    source: coingecko\n    base_url: "+url)

	// No data yet: dashboards must backfill first.
	if err := Dashboards(context.Background(), e.proc()); err != nil {
		t.Fatal(err)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
	hiroRequests := func() int64 {
		var n int64
		for route, c := range e.sim.Stats().ByRoute {
			if strings.HasPrefix(route, "/extended") {
				n += c
			}
		}
		return n
	}
	before := hiroRequests()
	var out bytes.Buffer
	if err := Publish(context.Background(), e.procTo(&out)); err != nil {
		t.Fatalf("publish: %v\n%s", err, out.String())
	}
	if n := hiroRequests() - before; n != 0 {
		t.Fatalf("dashboards at full coverage sent %d requests to the Hiro API", n)
	}
	for _, check := range []string{"PASS active = new + returning", "PASS first-seen parquet"} {
		if !strings.Contains(out.String(), check) {
			t.Fatalf("smoke output lacks %q:\n%s", check, out.String())
		}
	}
	pol := e.pol()
	b, err := os.ReadFile(filepath.Join(pol.Paths.PublishDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil || m.CoveragePercent != 100 || m.PanelRows["daily_wallets"] == 0 || len(m.Files) < 7 {
		t.Fatalf("manifest %+v %v", m, err)
	}
	for _, f := range m.Files {
		if _, err := os.Stat(filepath.Join(pol.Paths.PublishDir, f)); err != nil {
			t.Fatalf("published file missing: %v", err)
		}
	}
}

// When the backfill cannot reach policy (one small iteration), dashboards
// stop with exit 3 and name the missing days.
func TestDashboardsStillShort(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(3, 22), "")
	e.writePolicy(e.url(), "backfill:\n  max_pages: 20\n  max_iterations: 1\n\ndashboards:\n  prices:\n    source: none")
	err := Dashboards(context.Background(), e.proc())
	if exitcode.Of(err) != exitcode.BelowPolicy || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("want exit 3 naming the missing days, got %d: %v", exitcode.Of(err), err)
	}
}

// The offline demo runs the whole chain on a fresh folder. Its test runs
// the demo's chain shortened to an 8-day horizon (the shortest that fills
// a retention cohort; still five days less than the history) with a block
// every 5 minutes: a smaller page, the same chain of targets.
func TestDemo(t *testing.T) {
	t.Parallel()
	const days = 8
	chain := demoChain
	chain.History = (days + 5) * 24 * time.Hour
	chain.BlockInterval = 5 * time.Minute
	dir := t.TempDir()
	var out bytes.Buffer
	if err := (Process{Stdout: &out, Stderr: &out, LookupEnv: noEnv, Dir: dir}).demo(context.Background(), chain, days); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	page := filepath.Join(dir, demoDir, "dashboards", "index.html")
	if _, err := os.Stat(page); err != nil || !strings.Contains(out.String(), "demo done: open") {
		t.Fatalf("no page: %v\n%s", err, out.String())
	}
	// The policy file it leaves points status at its data.
	file := filepath.Join(demoDir, "backfill.yaml")
	if !strings.Contains(out.String(), "its status: BACKFILL_POLICY="+file+" go run mage.go status") {
		t.Fatalf("the demo does not say how to see its status:\n%s", out.String())
	}
	pol, err := policy.Load(filepath.Join(dir, file), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if want := demoPolicy(filepath.Join(dir, demoDir), "", days).Paths; pol.Paths != want || pol.Horizon.TargetDays != days {
		t.Fatalf("the demo's policy file: paths %+v, %d days; want %+v, %d", pol.Paths, pol.Horizon.TargetDays, want, days)
	}
	rep, err := gatherStatus(context.Background(), pol)
	if err != nil || rep.CoveragePercent != 100 {
		t.Fatalf("status of the demo's data: %v, coverage %.2f", err, rep.CoveragePercent)
	}
}
