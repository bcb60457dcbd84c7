package tasks

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/stxwallets/walletcache/internal/progress"
)

// progressBar shows a running backfill on a terminal: pages against the
// estimate, windows, transactions per second, requests per minute and ETA.
type progressBar struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("planning"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionFullWidth(),
	)}
}

// Update redraws the bar from the published state.
func (p *progressBar) Update(s progress.State) {
	if !s.Running && s.Phase == progress.OutcomeComplete.Phase() {
		s.PagesEstimate = s.IterationPages // a complete run ends full
	}
	if s.PagesEstimate > 0 {
		p.bar.ChangeMax64(s.PagesEstimate)
	}
	eta := "?"
	switch {
	case s.PagesEstimate > 0 && s.IterationPages >= s.PagesEstimate:
		eta = "0s"
	case s.ETASeconds > 0:
		eta = fmtDuration(time.Duration(s.ETASeconds * float64(time.Second)))
	}
	kind := s.UnitKind
	if kind == "" {
		kind = "units"
	}
	p.bar.Describe(fmt.Sprintf("iter %d · %s %d/%d · %.0f tx/s · %.0f req/min · %d×429 · ETA %s",
		s.Iteration, kind, s.UnitsDone, s.UnitsPlanned, s.TxPerSecond, s.RequestsPerMin, s.Throttled, eta))
	_ = p.bar.Set64(s.IterationPages)
}

// Done leaves the bar's last state on screen.
func (p *progressBar) Done() {
	_ = p.bar.Exit() // keep the last state; Finish would draw 100 % after a Ctrl+C
	fmt.Fprintln(p.w)
}
