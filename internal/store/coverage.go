package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Span is a closed range of unix seconds.
type Span = chain.Span

// HorizonAt is the one definition of the span coverage is measured on:
// from targetDays before now to the tip's burn time minus the settle
// margin (windows later than that are still provisional). tipBurn is unix
// seconds; 0 when no tip is known, and then the wall clock stands in for it.
// The end is before the start when the tip is older than the horizon.
func HorizonAt(now time.Time, tipBurn int64, targetDays int, settle time.Duration) Span {
	if tipBurn <= 0 {
		tipBurn = now.Unix()
	}
	return Span{
		Start: now.Add(-time.Duration(targetDays) * 24 * time.Hour).Unix(),
		End:   tipBurn - int64(settle/time.Second),
	}
}

// Coverage is how much of a horizon verified, final windows cover.
type Coverage struct {
	Horizon Span
	Percent float64
	Covered int64  // seconds
	Missing []Span // the parts of the horizon not covered, oldest first
}

// CoverageOf measures the horizon against windows. Only verified, final
// windows count; min/max timestamps never do.
func CoverageOf(horizon Span, windows []Window) Coverage {
	c := Coverage{Horizon: horizon}
	if horizon.End < horizon.Start {
		c.Percent = 100
		return c
	}
	var spans []Span
	for _, w := range windows {
		if w.Covered() {
			spans = append(spans, Span{Start: w.Start, End: w.End})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Start < spans[j].Start })
	cursor := horizon.Start // first second not yet accounted for
	for _, s := range spans {
		if s.End < cursor || s.Start > horizon.End {
			continue
		}
		if s.Start > cursor {
			c.Missing = append(c.Missing, Span{Start: cursor, End: min(s.Start-1, horizon.End)})
		}
		from := max(s.Start, cursor)
		to := min(s.End, horizon.End)
		if to >= from {
			c.Covered += to - from + 1
		}
		cursor = max(cursor, to+1)
		if cursor > horizon.End {
			break
		}
	}
	if cursor <= horizon.End {
		c.Missing = append(c.Missing, Span{Start: cursor, End: horizon.End})
	}
	c.Percent = 100 * float64(c.Covered) / float64(horizon.Seconds())
	if c.Covered == horizon.Seconds() {
		c.Percent = 100 // exact, not 99.99999 from float rounding
	}
	return c
}

// Facts are the table-level numbers status reports.
type Facts struct {
	Rows         int64     `json:"rows"`
	Wallets      int64     `json:"wallets"` // distinct senders
	MinBlockTime time.Time `json:"min_block_time"`
	MaxBlockTime time.Time `json:"max_block_time"`
	Version      int64     `json:"version"` // the data_version they were computed at
}

// bumpVersion counts every change to the transactions table, so cached
// table facts are recomputed only when something changed. Every commit that
// writes rows runs it, so it is an UPDATE of the row Open makes sure of
// (ensureVersion): DuckDB's upsert would take four times as long.
const bumpVersion = `UPDATE meta SET value = (value::BIGINT + 1)::VARCHAR, updated_at = now() WHERE key = 'data_version'`

// ensureVersion adds the data_version row bumpVersion counts in, at 0 (what
// a missing row reads as), when it is not there yet.
const ensureVersion = `INSERT INTO meta (key, value, updated_at)
SELECT 'data_version', '0', now() WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'data_version')`

// TableFacts returns row count, distinct senders and the block_time range.
// Counting distinct senders takes seconds on tens of millions of rows, so
// the result is cached in meta and reused while no commit has changed the
// table since; a writable store refreshes the cache.
func (s *Store) TableFacts(ctx context.Context) (Facts, error) {
	var version int64
	if v, ok, err := s.Meta(ctx, "data_version"); err != nil {
		return Facts{}, err
	} else if ok {
		version, _ = strconv.ParseInt(v, 10, 64)
	}
	if v, ok, err := s.Meta(ctx, "table_facts"); err == nil && ok {
		var f Facts
		if json.Unmarshal([]byte(v), &f) == nil && f.Version == version {
			return f, nil
		}
	}
	f := Facts{Version: version}
	var minT, maxT *time.Time
	err := s.db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT sender_address), min(block_time), max(block_time) FROM transactions`).
		Scan(&f.Rows, &f.Wallets, &minT, &maxT)
	if err != nil {
		return Facts{}, fmt.Errorf("table facts: %w", err)
	}
	if minT != nil {
		f.MinBlockTime, f.MaxBlockTime = minT.UTC(), maxT.UTC()
	}
	if !s.readOnly {
		if b, err := json.Marshal(f); err == nil {
			_ = s.SetMeta(ctx, "table_facts", string(b))
		}
	}
	return f, nil
}
