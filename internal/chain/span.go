package chain

import (
	"fmt"
	"time"
)

// Span is the one closed range of unix seconds (both ends inclusive) every
// package speaks: a burn_block_time window, a horizon, a missing range. It
// is exactly what the API's start_time/end_time filter on.
type Span struct{ Start, End int64 }

// Seconds is the span's length; both ends count.
func (s Span) Seconds() int64 { return s.End - s.Start + 1 }

// String shows the span in UTC: [2026-01-02 03:00:00 .. 2026-01-02 03:59:59].
func (s Span) String() string {
	return fmt.Sprintf("[%s .. %s]", time.Unix(s.Start, 0).UTC().Format(time.DateTime), time.Unix(s.End, 0).UTC().Format(time.DateTime))
}

// Times is the span as wall-clock times, for reports and JSON.
func (s Span) Times() TimeRange {
	return TimeRange{Start: time.Unix(s.Start, 0).UTC(), End: time.Unix(s.End, 0).UTC()}
}

// TimeRange is a Span as times, the form reports and JSON files use.
type TimeRange struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}
