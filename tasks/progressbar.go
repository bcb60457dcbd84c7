package tasks

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/stxwallets/walletcache/internal/progress"
)

// progressBar shows a running backfill on a terminal: pages against the
// estimate, units (time windows or height segments), transactions per
// second, requests per minute and ETA.
type progressBar struct {
	bar *progressbar.ProgressBar
	out *stoppableWriter
}

// stoppableWriter passes writes through until stop, then drops them, so
// nothing the bar draws late (a render already under way, a timer of the
// library's) can land on the summary printed after it.
type stoppableWriter struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
}

func (s *stoppableWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return len(p), nil
	}
	return s.w.Write(p)
}

// stop lets no more writes through; then it ends the bar's line, once.
func (s *stoppableWriter) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		fmt.Fprintln(s.w)
	}
}

func newProgressBar(w io.Writer) *progressBar {
	out := &stoppableWriter{w: w}
	return &progressBar{out: out, bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription("planning"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionFullWidth(),
		// No redraw timer of the library's: Update redraws every second,
		// and the timer of a bar without a known length kept drawing
		// after Exit, over the summary.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)}
}

// unitNames says what a run's units are in the bar.
var unitNames = map[string]string{"windows": "time windows", "segments": "height segments"}

// Update redraws the bar from the published state.
func (p *progressBar) Update(s progress.State) {
	if !s.Running && s.Phase == progress.OutcomeComplete.Phase() {
		s.PagesEstimate = max(s.IterationPages, 1) // a complete run ends full
		s.IterationPages = s.PagesEstimate
	}
	if s.PagesEstimate > 0 {
		p.bar.ChangeMax64(s.PagesEstimate)
	}
	kind := unitNames[s.UnitKind]
	if kind == "" {
		kind = "units"
	}
	p.bar.Describe(fmt.Sprintf("iter %d · %s %d/%d · %.0f tx/s · %.0f req/min · %d×429 · ETA %s",
		s.Iteration, kind, s.UnitsDone, s.UnitsPlanned, s.TxPerSecond, s.RequestsPerMin, s.Throttled, etaOf(s)))
	_ = p.bar.Set64(s.IterationPages)
}

// etaOf is the time left in words: "?" only while nothing says how long.
func etaOf(s progress.State) string {
	switch {
	case !s.Running, s.PagesEstimate > 0 && s.IterationPages >= s.PagesEstimate:
		return "0s"
	case s.ETASeconds > 0:
		return fmtDuration(time.Duration(s.ETASeconds * float64(time.Second)))
	}
	return "?"
}

// Done leaves the bar's last state on screen and stops it for good: what
// is printed next (the summary, the error) is never drawn over.
func (p *progressBar) Done() {
	_ = p.bar.Exit() // keep the last state; Finish would draw 100 % after a Ctrl+C
	p.out.stop()
}
