package backfill

import (
	"testing"
	"time"
)

// TestCommitterCollect checks how the batching committer cuts batches: an
// urgent step ends the wait at once with what is queued, a closed queue
// ends it, and maxBatch and the queue's size bound it; none of these waits
// for the linger.
func TestCommitterCollect(t *testing.T) {
	urgent := func(p int) bool { return p < 0 }
	queue := func(pages ...int) *committer[int] {
		c := &committer[int]{in: make(chan pending[int], max(maxBatch+8, len(pages)))}
		for _, p := range pages {
			c.in <- pending[int]{page: p}
		}
		return c
	}
	pages := func(b []pending[int]) []int {
		out := make([]int, len(b))
		for i, p := range b {
			out[i] = p.page
		}
		return out
	}
	const forever = time.Hour // a test that waited for it would time out

	c := queue(2, 3, -1, 4)
	if got := pages(c.collect(pending[int]{page: 1}, forever, urgent)); len(got) != 5 || got[4] != 4 {
		t.Fatalf("an urgent step queued behind pages: batch %v, want 1 2 3 -1 4", got)
	}
	c = queue()
	if got := pages(c.collect(pending[int]{page: -1}, forever, urgent)); len(got) != 1 {
		t.Fatalf("an urgent first step: batch %v, want -1 alone", got)
	}
	c = queue(2, 3)
	close(c.in)
	if got := pages(c.collect(pending[int]{page: 1}, forever, urgent)); len(got) != 3 {
		t.Fatalf("a closed queue: batch %v, want 1 2 3", got)
	}
	many := make([]int, maxBatch+5)
	c = queue(many...)
	if got := c.collect(pending[int]{page: 1}, forever, urgent); len(got) != maxBatch {
		t.Fatalf("a full queue: %d steps in a batch, want %d", len(got), maxBatch)
	}
	c = &committer[int]{in: make(chan pending[int], 4)}
	for p := 2; p <= 5; p++ {
		c.in <- pending[int]{page: p}
	}
	if got := pages(c.collect(pending[int]{page: 1}, forever, urgent)); len(got) != 4 {
		t.Fatalf("a queue of 4: batch %v, want 1 2 3 4", got)
	}
	c = queue(2)
	if got := pages(c.collect(pending[int]{page: 1}, 0, nil)); len(got) != 2 {
		t.Fatalf("no linger: batch %v, want 1 2", got)
	}
	c = queue(2)
	if got := pages(c.collect(pending[int]{page: 1}, time.Millisecond, urgent)); len(got) != 2 {
		t.Fatalf("a linger that runs out: batch %v, want 1 2", got)
	}
}
