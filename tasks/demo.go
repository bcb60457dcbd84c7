package tasks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stxwallets/walletcache/internal/atomicfile"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/policy"
)

// demoDir is where `mage demo` keeps its scratch data (git-ignored).
const demoDir = "data/demo"

// Demo runs the whole chain offline: an in-process simulator with a month
// of history, a backfill, the dashboards and the smoke checks, in a scratch
// data folder; then it prints where the page is. No request leaves the
// machine and no API key is needed.
func Demo(ctx context.Context, p Process) error { return p.demo(ctx, demoChain, demoDays) }

// demoChain is the demo's simulated chain: five days more history than
// the demo's horizon of demoDays, with a block every 45 s: a busy page that builds in well under a minute.
var demoChain = hirosim.Config{Seed: 2026, History: (demoDays + 5) * 24 * time.Hour, BlockInterval: 45 * time.Second, TxPerBlock: 1, PlausibleFees: true}

// demoDays is the demo's horizon.target_days and wallet_max_days.
const demoDays = 30

// demo is Demo on a given chain with a horizon of days; its test uses a
// smaller one.
func (p Process) demo(ctx context.Context, chain hirosim.Config, days int) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	dir := filepath.Join(p.Dir, demoDir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("demo: clear %s: %w", dir, err)
	}
	sim := hirosim.New(chain)
	url := sim.Start()
	defer sim.Close()
	tip := sim.Tip()
	fmt.Fprintf(p.Stdout, "demo: simulator at %s with %d transactions up to %s; data in %s\n",
		url, tip.TxCount, tip.BurnTime.Format(time.RFC3339), dir)

	pol := demoPolicy(dir, url, days)
	if _, err := p.runBackfill(ctx, &pol); err != nil {
		return fmt.Errorf("demo backfill: %w", err)
	}
	if err := p.pipeline(ctx, &pol, false); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	policyFile := filepath.Join(dir, "backfill.yaml")
	if err := atomicfile.Write(policyFile, demoPolicyYAML(url, days), 0o644); err != nil {
		return fmt.Errorf("demo: write %s: %w", policyFile, err)
	}
	fmt.Fprintf(p.Stdout, "\ndemo done: open %s in a browser (it works offline)\n", filepath.Join(pol.Paths.DashboardsDir, "index.html"))
	rel, err := filepath.Rel(p.Dir, policyFile)
	if err != nil {
		rel = policyFile
	}
	fmt.Fprintf(p.Stdout, "its status: BACKFILL_POLICY=%s go run mage.go status\n", rel)
	return nil
}

// demoPolicyYAML is the demo's policy as a file beside its data, so that
// status and dashboards can be pointed at them. Its paths are relative to
// the file; its server is the demo's simulator, gone once the demo ends,
// so a backfill with it stops at once instead of reaching the real API.
func demoPolicyYAML(simURL string, days int) []byte {
	d := policy.DefaultPaths(".")
	return []byte(fmt.Sprintf(`# Written by `+"`mage demo`"+`: its built-in policy, so that status and dashboards can
# be pointed at the demo's data (BACKFILL_POLICY=<this file>). Its server is
# the demo's simulator, which stopped with the demo: to fetch again, run
# `+"`mage demo`"+` again.
source:
  base_url: %[1]s
  api: v1
horizon:
  target_days: %[2]d
dashboards:
  wallet_max_days: %[2]d
  prices:
    base_url: %[1]s
paths:
  database: %[3]s
  raw_dir: %[4]s
  first_seen_parquet: %[5]s
  dashboards_dir: %[6]s
  publish_dir: %[7]s
`, simURL, days, d.Database, d.RawDir, d.FirstSeenParquet, d.DashboardsDir, d.PublishDir))
}

// demoPolicyName stands for the demo's policy file, which does not exist:
// the start line names it, and the summary's next step is the demo's.
const demoPolicyName = "the demo's built-in policy"

// demoPolicy is the default policy pointed at a simulator, with a horizon
// of days, every path under dir and no rate budget to wait on.
func demoPolicy(dir, simURL string, days int) policy.Policy {
	p := policy.Default()
	p.Dir, p.File = dir, demoPolicyName
	p.Source.BaseURL = simURL
	p.Source.API = "v1"
	p.Source.RequestsPerMinute, p.Source.RequestsPerSecond = 100_000, 1000
	p.Horizon.TargetDays = days
	p.Dashboards.WalletMaxDays = days
	p.Dashboards.Prices.BaseURL = simURL
	p.Paths = policy.DefaultPaths(dir)
	return p
}
