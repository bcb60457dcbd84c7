package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// v3State is the part of a run that the v3 source and the switching
// between sources need.
type v3State struct {
	runID   int64
	mode    string          // the source in use: v1 | v3
	used    []string        // the sources used so far, in order
	failed  map[string]bool // sources that went away during this run
	proofMu sync.Mutex      // one recordProofs at a time
	// progressPages counts v3 pages of fixed segments: progress, unlike
	// the open segment's, which restarts at the tip in every iteration.
	progressPages atomic.Int64
}

// chooseSource picks the source the run starts with: the one cfg.API
// forces, or for auto whichever the server serves, v3 first.
func (r *run) chooseSource(ctx context.Context) error {
	cfg := r.cfg
	mode := cfg.API
	switch mode {
	case "v1":
		if cfg.Source == nil {
			return errors.New("backfill: source.api is v1 but no v1 source is configured")
		}
	case "v3":
		if cfg.V3 == nil {
			return errors.New("backfill: source.api is v3 but no v3 source is configured")
		}
	case "", "auto":
		switch {
		case cfg.V3 == nil:
			mode = "v1"
		case cfg.Source == nil:
			mode = "v3"
		default:
			ok, err := cfg.V3.Probe(ctx)
			if err != nil {
				return fmt.Errorf("probe the server for /extended/v3/transactions: %w", err)
			}
			mode = "v1"
			if ok {
				mode = "v3"
			}
			r.log.Info("source chosen by probing the server", "api", "auto", "source", mode,
				"why", map[bool]string{true: "the server serves /extended/v3/transactions", false: "the server has no /extended/v3/transactions"}[ok])
		}
	default:
		return fmt.Errorf("backfill: unknown api %q (want auto, v1 or v3)", mode)
	}
	r.setMode(mode)
	return nil
}

// setMode makes mode the source in use.
func (r *run) setMode(mode string) {
	r.v3.mode = mode
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.v3.used); n == 0 || r.v3.used[n-1] != mode {
		r.v3.used = append(r.v3.used, mode)
	}
	r.state.Source = strings.Join(r.v3.used, "->")
}

// switchSource reacts to an iteration's error: when it says the source in
// use is gone (v1's 410, v3's missing routes) and the other source exists
// and has not gone away in this run, the run switches to it and returns
// true. What was committed stays: verified windows count as they are, and
// the other source plans whatever is still missing.
func (r *run) switchSource(err error) bool {
	from, to := r.v3.mode, ""
	switch {
	case from == "v1" && errors.Is(err, hiro.ErrGone) && r.cfg.V3 != nil:
		to = "v3"
	case from == "v3" && (errors.Is(err, hiro.ErrV3Unavailable) || errors.Is(err, hiro.ErrGone)) && r.cfg.Source != nil:
		to = "v1"
	default:
		return false
	}
	if r.v3.failed == nil {
		r.v3.failed = map[string]bool{}
	}
	r.v3.failed[from] = true
	if r.v3.failed[to] {
		return false
	}
	r.log.Warn("switching source: the server no longer serves the one in use", "from", from, "to", to, "reason", err.Error())
	r.setMode(to)
	return true
}

// runIteration runs one iteration with the source in use.
func (r *run) runIteration(ctx context.Context, iter int) (iterResult, Bounds, error) {
	if r.v3.mode == "v3" {
		return r.iterationV3(ctx, iter)
	}
	return r.iteration(ctx, iter)
}

// sourceLabel names the sources used so far ("v1", "v3", "v1->v3"), or the
// configured api before one is chosen.
func (r *run) sourceLabel() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.v3.used) > 0 {
		return strings.Join(r.v3.used, "->")
	}
	switch {
	case r.cfg.API != "":
		return r.cfg.API
	case r.cfg.Source == nil:
		return "v3"
	case r.cfg.V3 == nil:
		return "v1"
	}
	return "auto"
}

// counters reads the request counters. Both sources share one client, so
// either one's counters are the run's.
func (r *run) counters() Counters {
	if r.cfg.V3 != nil {
		return r.cfg.V3.Counters()
	}
	return r.cfg.Source.Counters()
}

// boundsAt fixes an iteration's horizon from the tip, as the v1 iteration does.
func (r *run) boundsAt(tip hiro.Tip) Bounds {
	now := r.cfg.Now().UTC()
	return Bounds{
		HorizonStart: now.Add(-time.Duration(r.cfg.TargetDays) * 24 * time.Hour).Unix(),
		FinalEdge:    tip.BurnBlockTime.Add(-r.cfg.Settle).Unix(),
		TailEnd:      max(now.Unix(), tip.BurnBlockTime.Unix()),
	}
}

// saveTip leaves the tip for status.
func (r *run) saveTip(ctx context.Context, tip hiro.Tip) error {
	if err := r.cfg.Store.SetMeta(ctx, store.MetaTipBurnTime, strconv.FormatInt(tip.BurnBlockTime.Unix(), 10)); err != nil {
		return err
	}
	return r.cfg.Store.SetMeta(ctx, store.MetaTipHeight, strconv.FormatInt(tip.Height, 10))
}
