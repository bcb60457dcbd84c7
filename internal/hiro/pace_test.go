package hiro

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// at is a moment ms milliseconds after a whole Unix second (and minute).
func at(ms int64) time.Time {
	return time.Unix(1_700_000_040, 0).Add(time.Duration(ms) * time.Millisecond)
}

// A busy client (every request asks as soon as the previous one was
// booked) gets n sends a window, spaced evenly and half a spacing away
// from both edges of the window.
func TestWindowSpreadsSendsWithinWindows(t *testing.T) {
	tests := []struct {
		name   string
		length time.Duration
		n      float64
		from   int64 // ms
		want   []int64
	}{
		{"5 a second from a window's start", time.Second, 5, 0, []int64{100, 300, 500, 700, 900, 1100, 1300}},
		{"5 a second from mid-window", time.Second, 5, 650, []int64{650, 750, 850, 1100, 1300, 1650, 1750, 1900, 2100}},
		{"5 a second after the last slot", time.Second, 5, 950, []int64{1100, 1300}},
		{"2 a second", time.Second, 2, 0, []int64{250, 750, 1250}},
		{"one a second", time.Second, 1, 10, []int64{500, 1500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(tt.length, tt.n)
			now := at(tt.from)
			for i, ms := range tt.want {
				got := w.earliest(now)
				if !got.Equal(at(ms)) {
					t.Fatalf("send %d at %v, want +%d ms", i, got.Sub(at(0)), ms)
				}
				w.take(got)
				now = got
			}
		})
	}
}

// Whatever the pattern of requests, no fixed window (as the server counts)
// and no sliding window of the same length gets more than n.
func TestWindowNeverExceedsTheLimit(t *testing.T) {
	for _, n := range []float64{1, 3, 5, 20} {
		w := newWindow(time.Second, n)
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		now := at(0)
		var sent []time.Time
		for range 400 {
			// Idle gaps of up to two seconds between bursts of asks.
			if rng.IntN(4) == 0 {
				now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
			}
			s := w.earliest(now)
			if s.Before(now) {
				t.Fatalf("n=%v: send at %v before it was asked for at %v", n, s, now)
			}
			w.take(s)
			sent = append(sent, s)
		}
		perWindow := map[int64]int{}
		for i, s := range sent {
			perWindow[floorDiv(s.UnixNano(), int64(time.Second))]++
			inSliding := 0
			for _, s2 := range sent[i:] {
				if s2.Sub(s) < time.Second {
					inSliding++
				}
			}
			if inSliding > int(n) {
				t.Fatalf("n=%v: %d sends within a second from %v", n, inSliding, s.Sub(at(0)))
			}
			into := time.Duration(s.UnixNano() % int64(time.Second))
			if half := time.Second / time.Duration(2*n); into < half || into > time.Second-half {
				t.Fatalf("n=%v: send %v into its window, nearer an edge than %v", n, into, half)
			}
		}
		for k, c := range perWindow {
			if c > int(n) {
				t.Fatalf("n=%v: window %d holds %d", n, k, c)
			}
		}
	}
}

// What the server says is left lowers the window's allowance (other
// clients share the budget); it never raises it, and the next window
// starts afresh.
func TestWindowHeardRemaining(t *testing.T) {
	tests := []struct {
		name      string
		remaining float64 // heard after the second send of the window
		want      int     // sends the window then takes in all
	}{
		{"as the client counted", 3, 5},
		{"another client took two", 1, 3},
		{"nothing left", 0, 2},
		{"more left than the limit", 100, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(time.Second, 5)
			k0 := w.indexOf(at(0))
			now := at(0)
			count := 0
			for i := 0; ; i++ {
				s := w.earliest(now)
				if w.indexOf(s) != k0 {
					break
				}
				k, used := w.take(s)
				count++
				if i == 1 {
					w.heard(k, used, tt.remaining)
				}
				now = s
			}
			if count != tt.want {
				t.Fatalf("window took %d, want %d", count, tt.want)
			}
			// The next window has its whole allowance again.
			next := w.earliest(w.start(k0 + 1))
			if !next.Equal(at(1100)) {
				t.Fatalf("next window's first send at %v, want +1100ms", next.Sub(at(0)))
			}
		})
	}
}

// Cost beyond one is charged to the window and what exceeds it is debt the
// next windows carry.
func TestWindowCarriesDebt(t *testing.T) {
	w := newWindow(time.Second, 5)
	w.take(w.earliest(at(0)))
	w.charge(11) // 12 in all: this window, the next and two of the one after
	got := w.earliest(at(0))
	if want := at(2000 + 100 + 2*200); !got.Equal(want) {
		t.Fatalf("first send after the debt at %v, want %v", got.Sub(at(0)), want.Sub(at(0)))
	}
}

// A Unix-timestamp ratelimit-reset that ends windows at another second of
// the minute moves the windows there, keeping what was booked.
func TestWindowPhaseFromReset(t *testing.T) {
	tests := []struct {
		name  string
		reset time.Duration // after the whole minute; 0: never heard
		want  time.Duration
	}{
		// Two a minute book at 15 s and 45 s: asked at 50 s, the next
		// goes at 15 s into the next minute.
		{"minute-aligned", 0, 75 * time.Second},
		// Windows ending at 20 s past the minute: the one booked at 15 s
		// belongs to the window before, and the window from 20 s has its
		// first slot at 35 s, so 50 s is allowed.
		{"ending at 20 s", 20 * time.Second, 50 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(time.Minute, 2)
			w.take(w.earliest(at(0)))
			if tt.reset != 0 {
				w.setPhase(at(0).Add(tt.reset))
			}
			if got := w.earliest(at(50_000)); !got.Equal(at(0).Add(tt.want)) {
				t.Fatalf("next send at %v, want %v", got.Sub(at(0)), tt.want)
			}
		})
	}
}

// Remaining-request headers that cannot be true are ignored; a negative
// one means nothing is left.
func TestBelievedRemaining(t *testing.T) {
	tests := []struct {
		name            string
		rem             float64
		remOK           bool
		limit           float64
		limitOK, wantOK bool
		want            float64
	}{
		{"plain", 3, true, 5, true, true, 3},
		{"absent", 0, false, 5, true, false, 0},
		{"no limit sent", 3, true, 0, false, true, 3},
		{"more than the limit", 6, true, 5, true, false, 0},
		{"negative", -4, true, 5, true, true, 0},
		{"NaN", math.NaN(), true, 5, true, false, 0},
		{"limit NaN", 3, true, math.NaN(), true, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := believedRemaining(tt.rem, tt.remOK, tt.limit, tt.limitOK)
			if ok != tt.wantOK || got != tt.want {
				t.Fatalf("got %v %v, want %v %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
