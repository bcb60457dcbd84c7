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
// spills to disk and peaks under 1.5 GB RSS (BenchmarkBuild10M).
const dashboardMemory = "1.2GB"

// Dashboards builds the first-seen parquet, the panels, the price panel
// and index.html, after making sure coverage meets policy.
func Dashboards(ctx context.Context) error {
	pol, err := loadPolicy()
	if err != nil {
		return err
	}
	_, err = BuildDashboards(ctx, pol)
	return err
}

// EnsureCoverage makes sure coverage meets coverage.min_percent: when it
// does not, it runs the backfill (same policy, same process) and checks
// again. When coverage is fine it touches neither the database's writer
// lock nor the network.
func EnsureCoverage(ctx context.Context, pol *policy.Policy) (status.Report, error) {
	rep, err := GatherStatus(ctx, pol)
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
	fmt.Fprintf(Stdout, "coverage %.2f%% is below coverage.min_percent %.0f%%: running the backfill first\n", rep.CoveragePercent, pol.Coverage.MinPercent)
	if _, err := RunBackfill(ctx, pol); err != nil {
		return rep, err
	}
	if rep, err = GatherStatus(ctx, pol); err != nil {
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

// BuildDashboards ensures coverage, then builds every dashboard artifact.
func BuildDashboards(ctx context.Context, pol *policy.Policy) (dashboard.Result, error) {
	if pol.ReadOnly {
		return dashboard.Result{}, exitcode.Errorf(exitcode.BadInput,
			"BACKFILL_READ_ONLY is set, and the dashboards write the database (price cache, metric tables): unset it to build them")
	}
	rep, err := EnsureCoverage(ctx, pol)
	if err != nil {
		return dashboard.Result{}, err
	}
	st, err := openStore(ctx, pol.Paths.Database, false)
	if err != nil {
		return dashboard.Result{}, err
	}
	defer st.Close()
	log := newLogger()
	cov := dashboard.Coverage{Known: true, Percent: rep.CoveragePercent, TargetDays: rep.TargetDays}
	for _, m := range rep.MissingRanges {
		cov.MissingRanges = append(cov.MissingRanges, dashboard.Range{Start: m.Start, End: m.End})
	}
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
	fmt.Fprintf(Stdout, "dashboards built in %s from %d user transactions of %d wallets, %s .. %s (data_end_date %s)\n",
		fmtDuration(time.Since(started)), res.UserTxs, res.ActiveWallets, res.Period.HistoryStart.Format(time.DateOnly),
		res.Period.DataEndDate.Format(time.DateOnly), res.Period.DataEndDate.Format(time.DateOnly))
	fmt.Fprintf(Stdout, "  page     %s\n", res.Index)
	fmt.Fprintf(Stdout, "  panels   ")
	for i, p := range res.Panels {
		if i > 0 {
			fmt.Fprint(Stdout, ", ")
		}
		fmt.Fprintf(Stdout, "%s (%d rows)", p.Name, p.Rows)
	}
	fmt.Fprintln(Stdout)
	fmt.Fprintf(Stdout, "  parquet  %s (%d wallets)\n", res.FirstSeenParquet, res.ParquetRows)
	if res.Prices.Reason != "" {
		fmt.Fprintf(Stdout, "  prices   %s\n", res.Prices.Reason)
	}
	return res, nil
}

// RunSmoke checks the built artifacts of a loaded policy: panels
// non-empty, active = new + returning, cohort sizes, week-0 retention,
// eligible + censored, no NaN, the parquet read back by an independent
// reader, the page naming every panel. A failure names the check and the
// numbers.
func RunSmoke(ctx context.Context, pol *policy.Policy) error {
	rep, err := smoke.Check(ctx, smoke.Inputs{
		Dir:              pol.Paths.DashboardsDir,
		FirstSeenParquet: pol.Paths.FirstSeenParquet,
		Windows:          pol.Dashboards.WalletWindows,
	})
	fmt.Fprint(Stdout, rep.String())
	if err != nil {
		return fmt.Errorf("smoke: %w", err)
	}
	return nil
}
