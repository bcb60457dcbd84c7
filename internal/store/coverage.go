package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Span is a closed range of unix seconds.
type Span struct{ Start, End int64 }

// Seconds is the span's length; both ends count.
func (s Span) Seconds() int64 { return s.End - s.Start + 1 }

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
			spans = append(spans, Span{w.Start, w.End})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Start < spans[j].Start })
	cursor := horizon.Start // first second not yet accounted for
	for _, s := range spans {
		if s.End < cursor || s.Start > horizon.End {
			continue
		}
		if s.Start > cursor {
			c.Missing = append(c.Missing, Span{cursor, min(s.Start-1, horizon.End)})
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
		c.Missing = append(c.Missing, Span{cursor, horizon.End})
	}
	c.Percent = 100 * float64(c.Covered) / float64(horizon.Seconds())
	if c.Covered == horizon.Seconds() {
		c.Percent = 100 // exact, not 99.99999 from float rounding
	}
	return c
}

// Facts are the table-level numbers status reports.
type Facts struct {
	Rows         int64
	Wallets      int64 // distinct senders
	MinBlockTime time.Time
	MaxBlockTime time.Time
}

// TableFacts reads row count, distinct senders and the block_time range.
func (s *Store) TableFacts(ctx context.Context) (Facts, error) {
	var f Facts
	var minT, maxT *time.Time
	err := s.db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT sender_address), min(block_time), max(block_time) FROM transactions`).
		Scan(&f.Rows, &f.Wallets, &minT, &maxT)
	if err != nil {
		return Facts{}, fmt.Errorf("table facts: %w", err)
	}
	if minT != nil {
		f.MinBlockTime, f.MaxBlockTime = minT.UTC(), maxT.UTC()
	}
	return f, nil
}
