package tasks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/policy"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/rawcache"
	"github.com/stxwallets/walletcache/internal/status"
	"github.com/stxwallets/walletcache/internal/store"
)

// Status prints the coverage report. It exits 3 when coverage is below
// coverage.min_percent, 4 when the database is held and no live state
// explains it, and 0 otherwise, also while a backfill runs.
func Status(ctx context.Context, p Process, asJSON bool) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	format := strings.ToLower(strings.TrimSpace(p.getenv("STATUS_FORMAT")))
	switch format {
	case "", "text":
	case "json":
		asJSON = true
	default:
		return exitcode.Errorf(exitcode.BadInput, "STATUS_FORMAT=%q: use json or text", format)
	}
	pol, err := p.loadPolicy()
	if err != nil {
		return err
	}
	if msg := walNotice(pol.Paths.Database, walNoticeBytes); msg != "" && !backfillRunning(pol) {
		fmt.Fprintln(p.Stderr, msg)
	}
	rep, err := gatherStatus(ctx, pol)
	if err != nil {
		return err
	}
	if rep.Locked != nil {
		return fmt.Errorf("%w; status has no live state from it (it is not a running backfill of this version)", rep.Locked)
	}
	if asJSON {
		if err := status.WriteJSON(p.Stdout, rep); err != nil {
			return err
		}
	} else {
		status.WriteText(p.Stdout, rep, time.Now())
	}
	if !rep.MeetsPolicy {
		return exitcode.Errorf(exitcode.BelowPolicy, "coverage %.2f%% is below coverage.min_percent %.0f%%", rep.CoveragePercent, rep.MinPercent)
	}
	return nil
}

// walNoticeBytes is the write-ahead log status mentions before reading: a
// backfill checkpoints at 16 MB, but one large commit (a seed's or a
// rebuild's bulk load) writes all of itself first, and Ctrl+C leaves the
// log for the next open.
const walNoticeBytes = 32 << 20

// walNotice is the line status prints before it reads a database whose
// write-ahead log holds at least min bytes, or "". Every read-only open
// replays the log in memory (about 4 s and 400 MB for 166 MB of it), which
// would look like a hang.
func walNotice(path string, min int64) string {
	n := store.PendingWALBytes(path)
	if n == 0 || n < min {
		return ""
	}
	return fmt.Sprintf("status: reading the %.1f MB write-ahead log an interrupted backfill left; every read takes a few seconds until the next `mage backfill` folds it into the database",
		float64(n)/(1<<20))
}

// backfillRunning tells whether a live backfill publishes its state for
// the policy's database.
func backfillRunning(pol *policy.Policy) bool {
	s, ok, _ := progress.Read(progress.PathFor(pol.Paths.Database))
	return ok && s.Running && store.ProcessAlive(s.PID)
}

// gatherStatus builds the status report for a policy without printing it.
func gatherStatus(ctx context.Context, pol *policy.Policy) (status.Report, error) {
	cache := rawcache.New(pol.Paths.RawDir)
	usage, err := cache.Usage()
	if err != nil {
		usage = rawcache.Usage{}
	}
	return status.Gather(ctx, status.Inputs{
		Database:      pol.Paths.Database,
		TargetDays:    pol.Horizon.TargetDays,
		Settle:        pol.Settle(),
		MinPercent:    pol.Coverage.MinPercent,
		Stall:         pol.Stall(),
		RawCacheBytes: usage.TotalBytes(),
		RawCacheFiles: int64(usage.Files),
		RawCacheShare: func(horizon store.Span) (v1, v3 *float64) {
			// A cache status cannot read is reported as unknown: status
			// is about the database first.
			keys, err := cache.Keys()
			if err != nil {
				return nil, nil
			}
			share, err := backfill.RawCacheShare(cache, keys, horizon, int64(pol.Settle()/time.Second), int64(pol.Backfill.SegmentHeights))
			if err != nil {
				return nil, nil
			}
			return share.V1, share.V3
		},
		Open: func(ctx context.Context) (*store.Store, error) {
			// Status only reads, whatever BACKFILL_READ_ONLY says. While a
			// backfill publishes live state there is no point waiting for
			// its lock.
			wait := lockWait
			if backfillRunning(pol) {
				wait = 0
			}
			return openStoreRaw(ctx, pol.Paths.Database, true, wait)
		},
	})
}
