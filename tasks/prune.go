package tasks

import (
	"context"
	"fmt"

	"github.com/stxwallets/walletcache/internal/rawcache"
)

// Prune deletes raw cache files older than retention.raw_days and prints
// what it freed; with dryRun it only prints what it would delete.
func Prune(ctx context.Context, p Process, dryRun bool) error {
	p, pol, err := p.start()
	if err != nil {
		return err
	}
	if pol.ReadOnly && !dryRun {
		dryRun = true
		fmt.Fprintln(p.Stdout, "BACKFILL_READ_ONLY is set: showing what prune would delete, deleting nothing")
	}
	rep, err := rawcache.New(pol.Paths.RawDir).Prune(pol.RawRetention(), dryRun)
	if err != nil {
		return fmt.Errorf("prune %s: %w", pol.Paths.RawDir, err)
	}
	fmt.Fprintf(p.Stdout, "prune %s (retention.raw_days %d): %s\n", pol.Paths.RawDir, pol.Retention.RawDays, rep)
	return nil
}
