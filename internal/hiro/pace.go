package hiro

import (
	"time"
)

// window paces requests into the fixed windows a rate-limiting gateway
// counts them in (one second, one minute), so that the client can spend
// the whole allowance of every window and still never send a request the
// gateway refuses:
//
//   - no more than n requests are sent in one window, counted the way the
//     server counts them (whole windows from the Unix epoch, shifted by the
//     phase that ratelimit-reset reveals);
//   - no more than n requests are sent in any stretch of one window's
//     length either, so that a gateway counting in sliding windows sees no
//     burst; requests go the j-th slot of their window ((j+½)·length/n
//     into it) or later, at least half a slot apart, so that one late
//     request does not push the rest of its window out of it;
//   - no request is sent in the first or last half spacing of a window: a
//     send delayed by the scheduler, or counted a little later by the
//     server, still lands in the window it was meant for;
//   - what the server says is left in the window (ratelimit-remaining and
//     its per-second and per-minute forms) lowers the allowance when other
//     clients share the budget; it never raises it above n;
//   - a request that costs more than one (x-ratelimit-cost-stacks) charges
//     the rest to its window, and what exceeds the window is debt the next
//     windows carry, as a token bucket would.
//
// Callers hold Client.mu.
type window struct {
	length time.Duration
	n      int           // requests allowed per window: the believed limit
	phase  time.Duration // windows begin phase after each multiple of length since the Unix epoch
	index  int64         // the window of the latest reservation
	used   int           // requests and cost charged to window index
	cap    int           // most the server lets window index take in all (n when it said nothing)
	last   time.Time     // the latest reservation
	// recent is a ring of the latest n reservations (Unix nanoseconds),
	// its oldest at head once it is full.
	recent []int64
	head   int
}

func newWindow(length time.Duration, perWindow float64) *window {
	w := &window{length: length}
	w.setLimit(perWindow)
	w.cap = w.n
	return w
}

// setLimit sets the requests allowed per window (at least one).
func (w *window) setLimit(perWindow float64) {
	w.n = max(1, int(min(perWindow, 1e6)))
	w.cap = min(w.cap, w.n)
	if len(w.recent) > w.n {
		// Keep the latest n, oldest first.
		ring := append(append([]int64(nil), w.recent[w.head:]...), w.recent[:w.head]...)
		w.recent, w.head = ring[len(ring)-w.n:], 0
	}
}

// spacing is the time between two requests at the full rate.
func (w *window) spacing() time.Duration { return w.length / time.Duration(w.n) }

// indexOf is the window t falls in.
func (w *window) indexOf(t time.Time) int64 {
	return floorDiv(t.UnixNano()-int64(w.phase), int64(w.length))
}

// start is when window k begins.
func (w *window) start(k int64) time.Time {
	return time.Unix(0, k*int64(w.length)+int64(w.phase))
}

// state is the charge and allowance of window k at or after the window of
// the latest reservation: a later window starts with the debt that
// exceeded the windows before it.
func (w *window) state(k int64) (used, allow int) {
	if k <= w.index {
		return w.used, min(w.n, w.cap)
	}
	debt := int64(w.used-w.n) - (k-w.index-1)*int64(w.n)
	return int(max(debt, 0)), w.n
}

// earliest is the first time at or after t at which a request may be sent.
func (w *window) earliest(t time.Time) time.Time {
	if g := w.last.Add(w.spacing() / 2); g.After(t) {
		t = g
	}
	if len(w.recent) == w.n {
		if g := time.Unix(0, w.recent[w.head]).Add(w.length); g.After(t) {
			t = g
		}
	}
	k := max(w.indexOf(t), w.index)
	if s := w.start(k); s.After(t) {
		t = s
	}
	half := w.spacing() / 2
	for {
		used, allow := w.state(k)
		// The used-th slot of the window: requests already charged to it
		// (debt, cost) take the slots before.
		slot, last := w.start(k).Add(half+time.Duration(used)*w.spacing()), w.start(k+1).Add(-half)
		if used < allow {
			if slot.After(t) {
				t = slot
			}
			if !t.After(last) {
				return t
			}
		}
		k++
		t = w.start(k)
	}
}

// take reserves a send at t (which earliest allowed) and returns the
// window it is counted in and how many requests that window holds with it.
func (w *window) take(t time.Time) (k int64, used int) {
	k = w.indexOf(t)
	if k > w.index {
		w.used, _ = w.state(k)
		w.index, w.cap = k, w.n
	}
	w.used++
	w.last = t
	if len(w.recent) < w.n {
		w.recent = append(w.recent, t.UnixNano())
	} else {
		w.recent[w.head] = t.UnixNano()
		w.head = (w.head + 1) % w.n
	}
	return k, w.used
}

// charge adds extra cost to window k, or to the current window when k has
// passed.
func (w *window) charge(extra int) { w.used += extra }

// heard lowers the allowance of window k to what the server says is left
// after the request that was the used-th of that window: the server may
// count requests of other clients sharing the budget. remaining must
// already be checked (not negative, not above the announced limit).
func (w *window) heard(k int64, used int, remaining float64) {
	if k != w.index {
		return // a window that has passed; the next starts afresh
	}
	w.cap = min(w.cap, used+int(min(remaining, 1e9)))
}

// setPhase aligns the windows to a server whose window ends at end: the
// reservations already made stay counted in the window that now holds the
// latest of them, so that the change never lets more through.
func (w *window) setPhase(end time.Time) {
	p := time.Duration(end.UnixNano() % int64(w.length))
	if p == w.phase {
		return
	}
	w.phase = p
	if !w.last.IsZero() {
		w.index = w.indexOf(w.last)
	}
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
