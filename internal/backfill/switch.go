package backfill

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stxwallets/walletcache/internal/hiro"
)

// sourceChoice is which API source a run uses, and which it has used.
type sourceChoice struct {
	inUse  Source
	used   []string        // the sources used so far, in order
	failed map[string]bool // sources that went away during this run
}

// chooseSource picks the source the run starts with: the one cfg.API
// forces, or for auto whichever the server serves, v3 first.
func (r *run) chooseSource(ctx context.Context) error {
	cfg := r.cfg
	var src Source
	switch cfg.API {
	case SourceV1:
		if src = cfg.V1; src == nil {
			return errors.New("backfill: source.api is v1 but no v1 source is configured")
		}
	case SourceV3:
		if src = cfg.V3; src == nil {
			return errors.New("backfill: source.api is v3 but no v3 source is configured")
		}
	case "", "auto":
		switch {
		case cfg.V3 == nil:
			src = cfg.V1
		case cfg.V1 == nil:
			src = cfg.V3
		default:
			ok := true
			if p, can := cfg.V3.(prober); can {
				var err error
				if ok, err = p.Probe(ctx); err != nil {
					return fmt.Errorf("probe the server for /extended/v3/transactions: %w", err)
				}
			}
			src, why := cfg.V3, "the server serves /extended/v3/transactions"
			if !ok {
				src, why = cfg.V1, "the server has no /extended/v3/transactions"
			}
			r.log.Info("source chosen by probing the server", "api", "auto", "source", src.Name(), "why", why)
			r.use(src)
			return nil
		}
	default:
		return fmt.Errorf("backfill: unknown api %q (want auto, v1 or v3)", cfg.API)
	}
	r.use(src)
	return nil
}

// use makes src the source in use.
func (r *run) use(src Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources.inUse = src
	if n := len(r.sources.used); n == 0 || r.sources.used[n-1] != src.Name() {
		r.sources.used = append(r.sources.used, src.Name())
	}
	r.state.Source = strings.Join(r.sources.used, "->")
}

// switchSource reacts to an iteration's error: when it says the source in
// use is gone (v1's 410, v3's missing routes) and the other source exists
// and has not gone away in this run, the run switches to it and returns
// true. What was committed stays: verified windows count as they are, and
// the other source plans whatever is still missing.
func (r *run) switchSource(err error) bool {
	from := r.sources.inUse
	var to Source
	switch {
	case from == r.cfg.V1 && errors.Is(err, hiro.ErrGone):
		to = r.cfg.V3
	case from == r.cfg.V3 && (errors.Is(err, hiro.ErrV3Unavailable) || errors.Is(err, hiro.ErrGone)):
		to = r.cfg.V1
	}
	if to == nil {
		return false
	}
	if r.sources.failed == nil {
		r.sources.failed = map[string]bool{}
	}
	r.sources.failed[from.Name()] = true
	if r.sources.failed[to.Name()] {
		return false
	}
	r.log.Warn("switching source: the server no longer serves the one in use", "from", from.Name(), "to", to.Name(), "reason", err.Error())
	r.use(to)
	return true
}

// sourceLabel names the sources used so far ("v1", "v3", "v1->v3"), or the
// configured api before one is chosen.
func (r *run) sourceLabel() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seed := ""
	if r.cfg.Seed != nil {
		seed = r.cfg.Seed.Name() + "+"
	}
	if len(r.sources.used) > 0 {
		return seed + strings.Join(r.sources.used, "->")
	}
	switch {
	case r.cfg.API != "":
		return r.cfg.API
	case r.cfg.V1 == nil:
		return SourceV3
	case r.cfg.V3 == nil:
		return SourceV1
	}
	return "auto"
}

// counters reads the request counters of the source in use (or, before one
// is chosen, of any): the API sources share one client, so either one's
// counters are the run's.
func (r *run) counters() Counters {
	r.mu.Lock()
	src := r.sources.inUse
	r.mu.Unlock()
	switch {
	case src != nil:
		return src.Counters()
	case r.cfg.V3 != nil:
		return r.cfg.V3.Counters()
	}
	return r.cfg.V1.Counters()
}
