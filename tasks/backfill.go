package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/policy"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/rawcache"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/store"
)

// Backfill fetches until the policy horizon is covered and verified.
func Backfill(ctx context.Context, p Process) error {
	p, pol, err := p.start()
	if err != nil {
		return err
	}
	_, err = p.runBackfill(ctx, pol)
	return err
}

// runBackfill runs the backfill for a loaded policy and prints its summary.
// Dashboards and demo call it to make sure coverage meets policy first.
func (p Process) runBackfill(ctx context.Context, pol *policy.Policy) (backfill.Summary, error) {
	if pol.ReadOnly {
		return backfill.Summary{}, exitcode.Errorf(exitcode.BadInput,
			"BACKFILL_READ_ONLY is set, so backfill may not write the database: unset it to backfill (in read-only mode status works and prune only lists)")
	}
	log := p.newLogger()
	client, err := hiro.New(hiro.Options{
		BaseURL:           pol.Source.BaseURL,
		APIKey:            pol.APIKey,
		RequestsPerMinute: float64(pol.Source.RequestsPerMinute),
		RequestsPerSecond: float64(pol.Source.RequestsPerSecond),
		Concurrency:       pol.Source.Concurrency,
		Timeout:           pol.Source.Timeout,
		MaxRetries:        pol.Source.MaxRetries,
		MaxWait:           pol.Source.MaxWait,
		Logger:            log,
	})
	if err != nil {
		return backfill.Summary{}, exitcode.New(exitcode.BadInput, fmt.Errorf("source: %w", err))
	}
	log.Info("backfill starting", "policy", pol.File, "api", policy.RedactURL(pol.Source.BaseURL), "api_key_set", pol.APIKey != "",
		"target_days", pol.Horizon.TargetDays, "database", pol.Paths.Database)
	// One answer from the server before anything is created: a wrong
	// address or no network must not leave an empty database behind. An
	// offline run asks nothing: its tip is the raw cache's.
	var tip *hiro.Tip
	seedSrc, closeSeed := backfill.Source(nil), func() {}
	cache := rawcache.New(pol.Paths.RawDir)
	if pol.Offline {
		if err := backfill.CheckOffline(cache); err != nil {
			return backfill.Summary{}, err
		}
		log.Info("offline (BACKFILL_OFFLINE): rebuilding final history from the raw cache; no request is sent", "raw_dir", pol.Paths.RawDir)
	} else {
		stop := backfill.Warm(ctx, client, cache, pol.Source.API)
		defer stop()
		t, err := probeServer(ctx, client, pol)
		if err != nil {
			return backfill.Summary{}, err
		}
		tip = &t
		if seedSrc, closeSeed, err = openSeed(ctx, pol); err != nil {
			return backfill.Summary{}, err
		}
	}
	defer closeSeed()
	st, err := openStore(ctx, pol.Paths.Database, false)
	if err != nil {
		if store.IsLocked(err) {
			return backfill.Summary{}, fmt.Errorf("another process holds the database, so this backfill will not start: %w", err)
		}
		return backfill.Summary{}, err
	}
	defer func() {
		// After Ctrl+C the process has Mage's 5 s grace to exit: folding a
		// large WAL into the file could take longer, and the next open
		// replays it anyway.
		if ctx.Err() != nil {
			_ = st.CloseWithoutCheckpoint()
			return
		}
		_ = st.Close()
	}()

	var observer backfill.Observer
	if p.interactive() {
		observer = newProgressBar(p.Stderr)
	}
	sum, err := backfill.Run(ctx, backfill.Config{
		Store:         st,
		V1:            backfill.NewV1(client),
		V3:            backfill.NewV3(client),
		Seed:          seedSrc,
		Tip:           tip,
		API:           pol.Source.API,
		Cache:         cache,
		TargetDays:    pol.Horizon.TargetDays,
		Settle:        pol.Settle(),
		Recheck:       pol.Recheck(),
		Window:        pol.Window(),
		SegmentCell:   int64(pol.Backfill.SegmentHeights),
		MaxPages:      int64(pol.Backfill.MaxPages),
		MaxIterations: pol.Backfill.MaxIterations,
		ForceRefresh:  pol.Backfill.ForceRefresh,
		Offline:       pol.Offline,
		Concurrency:   pol.Source.Concurrency,
		Stall:         pol.Stall(),
		LogEvery:      pol.Backfill.LogEvery,
		Logger:        log,
		Observer:      observer,
		ProgressPath:  progress.PathFor(st.Path()),
	})
	printSummary(p.Stdout, pol, sum)
	if err == nil && pol.Offline && sum.RunID != 0 && sum.Coverage.Percent < pol.Coverage.MinPercent {
		// Pages missing from the cache are an error of their own; this is
		// a cache that held every page it was asked for, and still proves
		// less than the policy wants (a v3 rebuild, whose newest final
		// hours only a walk from the chain tip proves).
		return sum, exitcode.Errorf(exitcode.BelowPolicy,
			"the offline rebuild leaves coverage at %.2f%%, below coverage.min_percent (%.0f%%): run `mage backfill` without BACKFILL_OFFLINE to fetch the rest",
			sum.Coverage.Percent, pol.Coverage.MinPercent)
	}
	return sum, backfillError(err)
}

// openSeed opens the database seed the policy names, if any: a bad seed is
// bad input (exit 2), found before anything is written.
func openSeed(ctx context.Context, pol *policy.Policy) (backfill.Source, func(), error) {
	r, err := seed.Open(ctx, seed.Config{
		PostgresURL: pol.Seed.PostgresURL, PostgresSchema: pol.Seed.PostgresSchema, ArchiveDump: pol.Seed.ArchiveDump,
	})
	var se *seed.Error
	switch {
	case errors.As(err, &se):
		return nil, func() {}, exitcode.New(exitcode.BadInput, fmt.Errorf("seed: %w (fix seed.postgres_url or seed.archive_dump in %s, or %s / %s)",
			err, pol.File, policy.EnvSeedPostgres, policy.EnvSeedArchive))
	case err != nil:
		return nil, func() {}, fmt.Errorf("seed: %w", err)
	case r == nil:
		return nil, func() {}, nil
	}
	return backfill.NewSeed(r), func() { _ = r.Close() }, nil
}

// probeServer reads the chain tip once. A server that cannot be reached
// ends the run with one line that says what to do; any other failure of
// this first request says that nothing was written.
func probeServer(ctx context.Context, client *hiro.Client, pol *policy.Policy) (hiro.Tip, error) {
	tip, err := client.ChainTip(ctx)
	var ue *hiro.UnreachableError
	switch {
	case err == nil:
		return tip, nil
	case ctx.Err() != nil:
		return tip, exitcode.New(exitcode.Interrupted, fmt.Errorf("interrupted before the first answer from %s; nothing was written", policy.RedactURL(pol.Source.BaseURL)))
	case errors.As(err, &ue):
		return tip, exitcode.New(exitcode.Failure, fmt.Errorf("%w: check the network or HIRO_API_URL; `mage demo` runs offline", ue))
	}
	return tip, exitcode.New(exitcode.Failure, fmt.Errorf("the first request (the chain tip) failed, so nothing was written: %w", err))
}

// backfillError gives a backfill failure its exit code and a plain reason.
func backfillError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backfill.ErrInterrupted):
		return exitcode.New(exitcode.Interrupted, err)
	case errors.Is(err, hiro.ErrGone), errors.Is(err, hiro.ErrV3Unavailable):
		return exitcode.New(exitcode.Failure, fmt.Errorf("the server serves neither /extended/v1/tx (410 Gone: the v1 sunset) nor /extended/v3/transactions (a node older than API v9); point HIRO_API_URL at a server that serves one of them: %w", err))
	case errors.Is(err, hiro.ErrQuotaExhausted):
		return exitcode.New(exitcode.Failure, fmt.Errorf("the API's monthly quota is used up; what was fetched is committed; run again when the quota resets or with another HIRO_API_KEY: %w", err))
	case errors.Is(err, syscall.ENOSPC):
		return exitcode.New(exitcode.Failure, fmt.Errorf("the disk is full; every committed page is safe, the page in flight was dropped; free space and run again: %w", err))
	}
	return err
}

// printSummary tells the operator what the run did, in a few lines.
func printSummary(w io.Writer, pol *policy.Policy, s backfill.Summary) {
	if s.RunID == 0 {
		return
	}
	cov := s.Coverage
	fmt.Fprintf(w, "backfill %s after %s (%d iteration(s))\n", s.Outcome, fmtDuration(s.Elapsed), s.Iterations)
	if s.Source != "" {
		fmt.Fprintf(w, "  source     %s\n", describeSource(s.Source))
	}
	if s.Seed != "" {
		share := ""
		if cov.Horizon.End > cov.Horizon.Start {
			share = fmt.Sprintf(", %.1f%% of the horizon", 100*float64(s.SeedSeconds)/float64(cov.Horizon.Seconds()))
		}
		fmt.Fprintf(w, "  seed       %s: %d final window(s) filled from it%s; the API fetched the rest\n", s.Seed, s.SeedWindows, share)
	}
	if cov.Horizon.End != 0 {
		fmt.Fprintf(w, "  coverage   %.2f%% of the %d-day horizon %s .. %s (policy wants %.0f%%)\n", cov.Percent,
			pol.Horizon.TargetDays, fmtTime(cov.Horizon.Start), fmtTime(cov.Horizon.End), pol.Coverage.MinPercent)
		for i, m := range cov.Missing {
			if i == 5 {
				fmt.Fprintf(w, "             … and %d more missing ranges (mage status lists them)\n", len(cov.Missing)-5)
				break
			}
			fmt.Fprintf(w, "  missing    %s .. %s\n", fmtTime(m.Start), fmtTime(m.End))
		}
	}
	fmt.Fprintf(w, "  pages      %d (%d from the raw cache)\n", s.Pages, s.CacheHits)
	fmt.Fprintf(w, "  requests   %d (retries %d, throttled 429s %d)\n", s.Requests, s.Retries, s.Throttled)
	fmt.Fprintf(w, "  rows       %d written, %d deleted (left the canonical chain)\n", s.RowsWritten, s.RowsDeleted)
	fmt.Fprintf(w, "  windows    %d verified, %d failed verification\n", s.WindowsVerified, s.WindowsFailed)
	// A failed run's message is the error the command exits with, which
	// is printed once, after this summary.
	if s.Message != "" && s.Outcome != progress.OutcomeFailed {
		fmt.Fprintf(w, "  note       %s\n", s.Message)
	}
	switch {
	case s.Outcome == progress.OutcomeInterrupted && pol.File == demoPolicyName:
		fmt.Fprintln(w, "  next       run `mage demo` again: it starts afresh")
	case s.Outcome == progress.OutcomeInterrupted:
		fmt.Fprintln(w, "  next       run `mage backfill` again to continue where this stopped")
	case s.Outcome == progress.OutcomePartial:
		if pol.Offline {
			fmt.Fprintln(w, "  next       run `mage backfill` without BACKFILL_OFFLINE to fetch what the raw cache lacks")
			break
		}
		fmt.Fprintln(w, "  next       run `mage backfill` again (or raise backfill.max_iterations / max_pages) to finish")
	}
}

func fmtTime(unix int64) string {
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04 UTC")
}

// describeSource spells out the sources a run used ("v1->v3").
func describeSource(label string) string {
	names := map[string]string{
		"v1": "v1 (/extended/v1/tx, time windows)",
		"v3": "v3 (/extended/v3/transactions, cursor walk)",
	}
	seed, api, seeded := strings.Cut(label, "+")
	if !seeded {
		api = label
	}
	parts := strings.Split(api, "->")
	for i, p := range parts {
		if n, ok := names[p]; ok {
			parts[i] = n
		}
	}
	out := parts[0]
	if len(parts) > 1 {
		out = strings.Join(parts, ", then ") + " after the first went away"
	}
	if seeded {
		out = "the " + seed + " seed for final history, then " + out
	}
	return out
}
