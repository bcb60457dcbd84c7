//go:build mage

// The Stacks wallet history cache: keeps a verified year of Stacks mainnet
// transactions in data/cache/wallet_metrics.duckdb and builds wallet
// dashboards from it. Configure with backfill.yaml and the environment
// variables in the README; `mage -h <target>` explains a target and its
// flags (-name=value).
package main

// Each target checks its command line first (tasks.CheckArgs), so that a
// stray word stops it before it does anything, then forwards to the tasks
// package, where the work and its tests live, and returns its error
// through exitcode.Expose: Mage's main reads the exit code only from the
// outermost error, and the tasks leave it on the cause (a lock exits 4).

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/tasks"
)

// proc is the process every target runs in: it prints to this process's
// stdout and stderr and reads its environment and working directory.
var proc = tasks.Process{Stdout: os.Stdout, Stderr: os.Stderr}

// Aliases keep the older command names (smoke-notebook, backfill-status) working.
var Aliases = map[string]interface{}{
	"backfill-status": Status,
	"smoke-notebook":  Smoke,
}

// Backfill fetches transactions until the policy horizon is covered and verified (resumable; Ctrl+C commits and exits 130, a second Ctrl+C exits 130 at once).
func Backfill(ctx context.Context) error {
	if err := tasks.CheckArgs(os.Args[1:]); err != nil {
		return exitcode.Expose(err)
	}
	defer tasks.ExitOnSecondInterrupt(os.Stderr)()
	return exitcode.Expose(tasks.Backfill(ctx, proc))
}

// Status reports coverage, missing ranges, the last run and any running backfill; exits 3 below coverage.min_percent.
// Flag: -json=true prints one JSON object instead of text (default false; STATUS_FORMAT=json does the same).
func Status(ctx context.Context, json *bool) error {
	if err := tasks.CheckArgs(os.Args[1:], "json"); err != nil {
		return exitcode.Expose(err)
	}
	return exitcode.Expose(tasks.Status(ctx, proc, json != nil && *json))
}

// Prune deletes raw cache files older than retention.raw_days and prints what it freed.
// Flag: -dryrun=true only lists what it would delete (default false).
func Prune(ctx context.Context, dryrun *bool) error {
	if err := tasks.CheckArgs(os.Args[1:], "dryrun"); err != nil {
		return exitcode.Expose(err)
	}
	return exitcode.Expose(tasks.Prune(ctx, proc, dryrun != nil && *dryrun))
}

// Env groups targets about the .env file.
type Env mg.Namespace

// Sync copies .env into every git worktree of the repo.
// Flag: -force=true replaces a different .env too (default false: it is left alone).
func (Env) Sync(ctx context.Context, force *bool) error {
	if err := tasks.CheckArgs(os.Args[1:], "force"); err != nil {
		return exitcode.Expose(err)
	}
	return exitcode.Expose(tasks.EnvSync(ctx, proc, force != nil && *force))
}

// Sim serves the Hiro-compatible simulator until Ctrl+C and prints how to point a backfill at it. Flags take the form -name=value:
// -addr=HOST:PORT where it listens (default 127.0.0.1:3999);
// -seed=N the generated chain's seed, the same seed giving the same chain (default 0);
// -days=N days of history, 1..3650 (default 30);
// -rps=N requests per second it allows, with rate-limit headers and 429s (default 0: unlimited);
// -rpm=N requests per minute it allows, likewise (default 0: unlimited);
// -grow=true appends a block every 5 s, like the live chain (default false).
func Sim(ctx context.Context, addr *string, seed *int, days *int, rps *int, rpm *int, grow *bool) error {
	if err := tasks.CheckArgs(os.Args[1:], "addr", "seed", "days", "rps", "rpm", "grow"); err != nil {
		return exitcode.Expose(err)
	}
	o := tasks.DefaultSimOptions()
	if addr != nil {
		o.Addr = *addr
	}
	if seed != nil {
		o.Seed = int64(*seed)
	}
	if days != nil {
		o.Days = *days
	}
	if rps != nil {
		o.RPS = *rps
	}
	if rpm != nil {
		o.RPM = *rpm
	}
	o.Grow = grow != nil && *grow
	return exitcode.Expose(tasks.Sim(ctx, proc, o))
}

// Dashboards builds the first-seen parquet, panels/*.csv, the price panel and index.html; runs the backfill first when coverage is below policy.
func Dashboards(ctx context.Context) error {
	if err := tasks.CheckArgs(os.Args[1:]); err != nil {
		return exitcode.Expose(err)
	}
	defer tasks.ExitOnSecondInterrupt(os.Stderr)()
	return exitcode.Expose(tasks.Dashboards(ctx, proc))
}

// Smoke builds the dashboards, then runs fast checks of every artifact (alias smoke-notebook); a failure names the check and the numbers.
func Smoke(ctx context.Context) error {
	if err := tasks.CheckArgs(os.Args[1:]); err != nil {
		return exitcode.Expose(err)
	}
	defer tasks.ExitOnSecondInterrupt(os.Stderr)()
	return exitcode.Expose(tasks.Smoke(ctx, proc))
}

// Notebook rebuilds every artifact from the database and runs the smoke checks.
func Notebook(ctx context.Context) error {
	if err := tasks.CheckArgs(os.Args[1:]); err != nil {
		return exitcode.Expose(err)
	}
	defer tasks.ExitOnSecondInterrupt(os.Stderr)()
	return exitcode.Expose(tasks.Notebook(ctx, proc))
}

// Publish builds and checks the dashboards, then copies page, panels and parquet to paths.publish_dir with a manifest.
func Publish(ctx context.Context) error {
	if err := tasks.CheckArgs(os.Args[1:]); err != nil {
		return exitcode.Expose(err)
	}
	defer tasks.ExitOnSecondInterrupt(os.Stderr)()
	return exitcode.Expose(tasks.Publish(ctx, proc))
}

// Bench runs the benchmarks (rate budget, seed load and readers, rebuild from the raw cache, backfill peak RSS, status and dashboards at 10M) with go test -bench and ends with one line each; it takes tens of minutes.
func Bench(ctx context.Context) error {
	if err := tasks.CheckArgs(os.Args[1:]); err != nil {
		return exitcode.Expose(err)
	}
	return exitcode.Expose(tasks.Bench(ctx, proc))
}

// Demo runs the whole chain offline against the built-in simulator in data/demo, prints where the page is, and leaves its policy in data/demo/backfill.yaml for status.
func Demo(ctx context.Context) error {
	if err := tasks.CheckArgs(os.Args[1:]); err != nil {
		return exitcode.Expose(err)
	}
	defer tasks.ExitOnSecondInterrupt(os.Stderr)()
	return exitcode.Expose(tasks.Demo(ctx, proc))
}
