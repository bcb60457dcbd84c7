package smoke

import (
	"testing"
	"time"
)

// An empty cohort panel passes only while no Monday–Sunday week lies
// inside the data before its last (possibly partial) day.
func TestCompleteWeek(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name        string
		first, last string
		want        bool
	}{
		{"two days", "2026-11-28", "2026-11-29", false},
		{"six days from a Monday", "2026-11-23", "2026-11-28", false},
		{"the week ends on the last, partial day", "2026-11-23", "2026-11-29", false},
		{"a whole week before the last day", "2026-11-23", "2026-11-30", true},
		{"starts mid-week, next week whole", "2026-11-25", "2026-12-07", true},
		{"starts mid-week, next week not over", "2026-11-25", "2026-12-06", false},
	} {
		if _, got := completeWeek(day(tc.first), day(tc.last)); got != tc.want {
			t.Errorf("%s: complete week %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, ok := completeWeek(time.Time{}, time.Time{}); ok {
		t.Error("no data has no complete week")
	}
}
