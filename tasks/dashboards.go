package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stxwallets/walletcache/internal/dashboard"
	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/policy"
	"github.com/stxwallets/walletcache/internal/prices"
	"github.com/stxwallets/walletcache/internal/smoke"
	"github.com/stxwallets/walletcache/internal/status"
	"github.com/stxwallets/walletcache/internal/wallets"
)

// dashboardMemory caps DuckDB while the dashboards build: unlimited, it
// takes up to 80 % of RAM (6 GB on 10 M transactions); with this cap it
// spills to disk and peaks at 1.4–1.9 GB RSS (BenchmarkBuild10M).
const dashboardMemory = "1.2GB"

// Dashboards builds the first-seen parquet, the panels, the price panel
// and index.html, after making sure coverage meets policy.
func Dashboards(ctx context.Context, p Process) error {
	p, pol, err := p.start()
	if err != nil {
		return err
	}
	_, err = p.buildDashboards(ctx, pol)
	return err
}

// ensureCoverage makes sure coverage meets coverage.min_percent: when it
// does not, it runs the backfill (same policy, same process) and checks
// again. When coverage is fine it touches neither the database's writer
// lock nor the network.
func (p Process) ensureCoverage(ctx context.Context, pol *policy.Policy) (status.Report, error) {
	rep, err := gatherStatus(ctx, pol)
	if err != nil {
		return rep, err
	}
	switch {
	case rep.Locked != nil:
		return rep, rep.Locked
	case rep.Running != nil:
		return rep, exitcode.Errorf(exitcode.Locked, "a backfill is running (PID %d) and holds the database: wait for it to finish (`mage status` shows its progress)", rep.Running.PID)
	case rep.MeetsPolicy:
		return rep, nil
	}
	fmt.Fprintf(p.Stdout, "coverage %.2f%% is below coverage.min_percent %.0f%%: running the backfill first\n", rep.CoveragePercent, pol.Coverage.MinPercent)
	if _, err := p.runBackfill(ctx, pol); err != nil {
		return rep, err
	}
	if rep, err = gatherStatus(ctx, pol); err != nil {
		return rep, err
	}
	if !rep.MeetsPolicy {
		msg := fmt.Sprintf("coverage is still %.2f%% after the backfill, below coverage.min_percent %.0f%%; missing:", rep.CoveragePercent, pol.Coverage.MinPercent)
		for i, m := range rep.MissingRanges {
			if i == 5 {
				msg += fmt.Sprintf(" and %d more", len(rep.MissingRanges)-5)
				break
			}
			msg += fmt.Sprintf(" %s..%s", m.Start.Format("2006-01-02 15:04"), m.End.Format("2006-01-02 15:04"))
		}
		return rep, exitcode.Errorf(exitcode.BelowPolicy, "%s (raise backfill.max_iterations or run `mage backfill` until it completes)", msg)
	}
	return rep, nil
}

// buildDashboards ensures coverage, then builds every dashboard artifact.
func (p Process) buildDashboards(ctx context.Context, pol *policy.Policy) (dashboard.Result, error) {
	if pol.ReadOnly {
		return dashboard.Result{}, exitcode.Errorf(exitcode.BadInput,
			"BACKFILL_READ_ONLY is set, and the dashboards write the database (price cache, metric tables): unset it to build them")
	}
	rep, err := p.ensureCoverage(ctx, pol)
	if err != nil {
		return dashboard.Result{}, err
	}
	st, err := openStore(ctx, pol.Paths.Database, false)
	if err != nil {
		return dashboard.Result{}, err
	}
	defer st.Close()
	log := p.newLogger()
	cov := dashboard.Coverage{Known: true, Percent: rep.CoveragePercent, TargetDays: rep.TargetDays, MissingRanges: rep.MissingRanges}
	started := time.Now()
	res, err := dashboard.Build(ctx, st.DB(), dashboard.Options{
		Dir:              pol.Paths.DashboardsDir,
		FirstSeenParquet: pol.Paths.FirstSeenParquet,
		Windows:          pol.Dashboards.WalletWindows,
		MaxDays:          pol.Dashboards.WalletMaxDays,
		Coverage:         cov,
		Prices: prices.Config{
			Source:       pol.Dashboards.Prices.Source,
			BaseURL:      pol.Dashboards.Prices.BaseURL,
			CSVPath:      pol.Dashboards.Prices.CSV,
			ForceRefresh: pol.Backfill.ForceRefresh,
			Offline:      pol.Offline,
		},
		MemoryLimit: dashboardMemory,
		Logf:        func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
	})
	switch {
	case err != nil && ctx.Err() != nil:
		return res, exitcode.New(exitcode.Interrupted, fmt.Errorf("dashboards interrupted; the previous artifacts were left as they were: %w", err))
	case errors.Is(err, wallets.ErrNoData):
		return res, exitcode.Errorf(exitcode.BelowPolicy, "the database holds no wallet transactions to chart: run `mage backfill` (%v)", err)
	case err != nil:
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	fmt.Fprintf(p.Stdout, "dashboards built in %s from %d user transactions of %d wallets, %s .. %s (data_end_date %s)\n",
		fmtDuration(time.Since(started)), res.UserTxs, res.ActiveWallets, res.Period.HistoryStart.Format(time.DateOnly),
		res.Period.DataEndDate.Format(time.DateOnly), res.Period.DataEndDate.Format(time.DateOnly))
	fmt.Fprintf(p.Stdout, "  page     %s\n", res.Index)
	fmt.Fprintf(p.Stdout, "  panels   ")
	for i, panel := range res.Panels {
		if i > 0 {
			fmt.Fprint(p.Stdout, ", ")
		}
		fmt.Fprintf(p.Stdout, "%s (%d rows)", panel.Name, panel.Rows)
	}
	fmt.Fprintln(p.Stdout)
	fmt.Fprintf(p.Stdout, "  parquet  %s (%d wallets)\n", res.FirstSeenParquet, res.ParquetRows)
	if res.Prices.Reason != "" {
		fmt.Fprintf(p.Stdout, "  prices   %s\n", res.Prices.Reason)
	}
	return res, nil
}

// runSmoke checks the built artifacts of a loaded policy: panels
// non-empty, active = new + returning, cohort sizes, week-0 retention,
// eligible + censored, no NaN, the parquet read back by an independent
// reader, the page naming every panel. A failure names the check and the
// numbers.
func (p Process) runSmoke(ctx context.Context, pol *policy.Policy) error {
	rep, err := smoke.Check(ctx, smoke.Inputs{
		Dir:              pol.Paths.DashboardsDir,
		FirstSeenParquet: pol.Paths.FirstSeenParquet,
		Windows:          pol.Dashboards.WalletWindows,
	})
	fmt.Fprint(p.Stdout, rep.String())
	if err != nil {
		return fmt.Errorf("smoke: %w", err)
	}
	return nil
}
