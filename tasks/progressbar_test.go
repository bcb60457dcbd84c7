package tasks

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/progress"
)

// After Done the bar draws nothing more, whatever renders it: the summary
// printed next is never overwritten.
func TestProgressBarSilentAfterDone(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := newProgressBar(&buf)
	b.Update(progress.State{Running: true, Iteration: 1, UnitKind: "segments", UnitsPlanned: 4, PagesEstimate: 10, IterationPages: 3})
	b.Done()
	done := buf.String()
	if !strings.HasSuffix(done, "\n") {
		t.Fatalf("the bar's line is not ended after Done: %q", done)
	}
	b.Update(progress.State{Running: true, Iteration: 1, PagesEstimate: 10, IterationPages: 9})
	_ = b.bar.RenderBlank() // what the library's own timer did
	_ = b.bar.Add(1)
	// Whatever the library's throttle lets through, its writer is shut.
	if _, err := b.out.Write([]byte("\r[3m42s] ")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != done {
		t.Fatalf("the bar drew after Done: %q", strings.TrimPrefix(got, done))
	}
}

func TestProgressBarETA(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    progress.State
		want string
	}{
		{"nothing known yet", progress.State{Running: true}, "?"},
		{"rate known", progress.State{Running: true, PagesEstimate: 100, IterationPages: 40, ETASeconds: 90}, "1m30s"},
		{"all estimated pages fetched", progress.State{Running: true, PagesEstimate: 40, IterationPages: 40}, "0s"},
		{"finished with no pages this iteration", progress.State{Running: false}, "0s"},
	} {
		if got := etaOf(tc.s); got != tc.want {
			t.Errorf("%s: ETA %q, want %q", tc.name, got, tc.want)
		}
	}
}
