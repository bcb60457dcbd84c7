package dashboard

import (
	"testing"
	"time"
)

// Date labels never overlap, and the label that names the year is kept.
func TestDateAxisLabelsDoNotCollide(t *testing.T) {
	t.Parallel()
	for _, width := range []float64{160, 320, 640} {
		first := time.Date(2025, 9, 20, 0, 0, 0, 0, time.UTC)
		var dates []time.Time
		for d := first; d.Before(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); d = d.AddDate(0, 0, 1) {
			dates = append(dates, d)
		}
		f := frame{L: 40, T: 10, W: width, H: 100}
		x := func(i int) float64 { return f.L + f.W*float64(i)/float64(len(dates)-1) }
		var c chart
		c.dateAxis(f, dates, x)
		var prevRight float64
		sawYear := false
		for _, tx := range c.Texts {
			if tx.Class != "tick" {
				continue
			}
			w := tickLabelWidth(tx.Text)
			left := tx.X - w/2
			if tx.Anchor == "end" {
				left = tx.X - w
			}
			if prevRight != 0 && left < prevRight {
				t.Errorf("width %.0f: label %q at %.1f overlaps the one before (ends %.1f)", width, tx.Text, left, prevRight)
			}
			prevRight = left + w
			sawYear = sawYear || tx.Text == "Jan 2026"
		}
		if !sawYear {
			t.Errorf("width %.0f: the label naming 2026 was dropped", width)
		}
	}
}
