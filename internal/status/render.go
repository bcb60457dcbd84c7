package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/rawcache"
)

// WriteJSON prints the report as one JSON object.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints the report for people; now is the reference time for
// ages, so output is reproducible in tests.
func WriteText(w io.Writer, r Report, now time.Time) {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "wallet history cache %s (%s)\n", r.Database, rawcache.HumanBytes(r.DatabaseBytes))
	if r.Running != nil {
		rn := r.Running
		p("running", "yes: backfill PID %d since %s (%s), %s, iteration %d", rn.PID, clock(rn.StartedAt), age(now.Sub(rn.StartedAt)), rn.Phase, rn.Iteration)
		p("", "%s %d/%d done this iteration; working on %s", orDash(rn.UnitKind), rn.UnitsDone, rn.UnitsPlanned, orDash(rn.CurrentUnit))
		eta := "unknown"
		if rn.ETASeconds != nil {
			eta = age(time.Duration(*rn.ETASeconds * float64(time.Second)))
		}
		p("", "pages %d of ~%d this iteration (%d in the run), rows %d, %.0f requests/min, %.0f tx/s, %d throttled (429), ETA %s",
			rn.IterationPages, rn.PagesEstimate, rn.Pages, rn.Rows, rn.RequestsPerMin, rn.TxPerSecond, rn.Throttled, eta)
		p("", "last commit %s ago", age(time.Duration(rn.SinceCommitSec*float64(time.Second))))
		if rn.CommittedAsOf != nil {
			p("", "the backfill holds the database; the figures below are as of %s", clock(*rn.CommittedAsOf))
		}
	} else if r.Source != "none" {
		p("running", "no backfill is running")
	}
	verdict := "meets policy"
	switch {
	case !r.MeetsPolicy && r.Running != nil:
		verdict = fmt.Sprintf("below policy (%.0f%%) while the running backfill fills it", r.MinPercent)
	case !r.MeetsPolicy:
		verdict = fmt.Sprintf("BELOW policy (%.0f%%): run `mage backfill`", r.MinPercent)
	}
	p("coverage", "%.2f%% of the %d-day horizon, %s", r.CoveragePercent, r.TargetDays, verdict)
	tip := "the chain tip the last backfill saw, minus the settle margin"
	if !r.TipSeen {
		tip = "now minus the settle margin (no backfill has read the chain tip yet)"
	}
	p("horizon", "%s .. %s (ends at %s)", clock(r.HorizonStart), clock(r.HorizonEnd), tip)
	switch n := len(r.MissingRanges); {
	case n == 0:
		p("missing", "nothing")
	case n == 1 && r.MissingRanges[0].Start.Equal(r.HorizonStart) && r.MissingRanges[0].End.Equal(r.HorizonEnd):
		p("missing", "the whole horizon (%s): nothing of it is verified yet", age(r.HorizonEnd.Sub(r.HorizonStart)+time.Second))
	default:
		var total time.Duration
		for _, m := range r.MissingRanges {
			total += m.End.Sub(m.Start) + time.Second
		}
		p("missing", "%d range(s), %s in all:", n, age(total))
		for i, m := range r.MissingRanges {
			if i == 10 {
				p("", "… %d more (STATUS_FORMAT=json lists all)", n-10)
				break
			}
			p("", "%s .. %s (%s)", clock(m.Start), clock(m.End), age(m.End.Sub(m.Start)+time.Second))
		}
	}
	p("rows", "%d transactions from %d wallets (distinct senders)", r.Rows, r.Wallets)
	if r.MinBlockTime != nil {
		p("block_time", "%s .. %s", clock(*r.MinBlockTime), clock(*r.MaxBlockTime))
	}
	if r.FreshnessSeconds != nil {
		p("freshness", "the newest transaction is %s old", age(time.Duration(*r.FreshnessSeconds*float64(time.Second))))
	}
	if lr := r.LastRun; lr != nil {
		took := "still running or killed"
		switch {
		case lr.Derived != "" && lr.FinishedAt == nil:
			took = "stopped after " + age(time.Duration(lr.DurationSec*float64(time.Second)))
		case lr.FinishedAt != nil:
			took = "took " + age(time.Duration(lr.DurationSec*float64(time.Second)))
		}
		outcome := lr.Outcome
		if lr.Source != "" {
			outcome += " (source " + lr.Source + ")"
		}
		p("last run", "%s, %s, %s: %d pages (%d from cache), %d requests, %d retries, %d throttled (429), %d rows written, %d deleted",
			clock(lr.StartedAt), took, outcome, lr.Pages, lr.CacheHits, lr.Requests, lr.Retries, lr.Throttled, lr.RowsWritten, lr.RowsDeleted)
		if lr.Message != "" {
			p("", "%s", lr.Message)
		}
		if lr.Derived != "" {
			p("", "(%s)", lr.Derived)
		}
	} else if r.Source == "database" {
		p("last run", "none recorded")
	}
	if l := r.ServerLimits; l != nil {
		p("server", "%s", describeLimits(*l))
	}
	p("raw cache", "%s in %d files%s", rawcache.HumanBytes(r.RawCacheBytes), r.RawCacheFiles, describeShare(r))
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", wmsg)
	}
}

// describeShare says how much of the horizon's final history the raw cache
// holds, per source it holds pages of.
func describeShare(r Report) string {
	var parts []string
	if r.RawCacheV1Percent != nil {
		parts = append(parts, fmt.Sprintf("%.1f%% of the horizon's final windows (v1)", *r.RawCacheV1Percent))
	}
	if r.RawCacheV3Percent != nil {
		parts = append(parts, fmt.Sprintf("%.1f%% of its final heights (v3)", *r.RawCacheV3Percent))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; holds " + strings.Join(parts, " and ")
}

func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// age prints a duration the way people say it: 3d04h, 2h05m, 4m10s, 12s.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
}

// describeLimits says what the server demanded of the rate budget and what
// the backfill kept to, in one line.
func describeLimits(l progress.Limits) string {
	rate := func(perMin, perSec float64) string {
		var parts []string
		if perMin > 0 {
			parts = append(parts, strconv.FormatFloat(perMin, 'f', -1, 64)+"/min")
		}
		if perSec > 0 {
			parts = append(parts, strconv.FormatFloat(perSec, 'f', -1, 64)+"/s")
		}
		if len(parts) == 0 {
			return "nothing"
		}
		return strings.Join(parts, " and ")
	}
	out := fmt.Sprintf("announced %s; the backfill kept to %s", rate(l.PerMinute, l.PerSecond), rate(l.BelievedPerMinute, l.BelievedPerSecond))
	if l.RetryAfterSeconds >= 0 {
		out += fmt.Sprintf("; the last 429 asked to wait %s", time.Duration(l.RetryAfterSeconds*float64(time.Second)).Round(time.Second))
	}
	if l.Cost > 1 {
		out += fmt.Sprintf("; a request costs %d", l.Cost)
	}
	return out + " (as of " + clock(l.At) + ")"
}
