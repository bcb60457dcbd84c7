package tasks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// SimOptions are the knobs of `mage sim`.
type SimOptions struct {
	Addr string // where it listens
	Seed int64
	Days int  // history length, 1..3650
	RPS  int  // per-second limit with headers and 429s; 0 = unlimited
	RPM  int  // per-minute limit; 0 = unlimited
	Grow bool // append a block every 5 s, like the live chain
}

// DefaultSimOptions are the options of `mage sim` without flags.
func DefaultSimOptions() SimOptions { return SimOptions{Addr: "127.0.0.1:3999", Days: 30} }

// check names the first flag whose value cannot be used.
func (o SimOptions) check() error {
	switch {
	case o.Days < 1 || o.Days > 3650:
		return exitcode.Errorf(exitcode.BadInput, "sim: -days=%d: want 1 to 3650 days of history", o.Days)
	case o.RPS < 0:
		return exitcode.Errorf(exitcode.BadInput, "sim: -rps=%d: want 0 (unlimited) or more requests a second", o.RPS)
	case o.RPM < 0:
		return exitcode.Errorf(exitcode.BadInput, "sim: -rpm=%d: want 0 (unlimited) or more requests a minute", o.RPM)
	}
	return nil
}

// Sim serves the Hiro-compatible simulator until Ctrl+C, for manual runs
// and benchmarks. It opens its address before it prints anything, and then
// prints the commands that run a backfill against it: a policy whose
// budget it allows and a horizon its history holds.
func Sim(ctx context.Context, p Process, o SimOptions) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		var addrErr *net.AddrError
		if errors.As(err, &addrErr) {
			return exitcode.Errorf(exitcode.BadInput, "sim: -addr=%s: %s; want HOST:PORT, such as 127.0.0.1:3999", o.Addr, addrErr.Err)
		}
		return fmt.Errorf("sim: cannot listen on %s (%v); stop what holds it or pick another -addr=HOST:PORT", o.Addr, errors.Unwrap(err))
	}
	defer ln.Close()
	cfg := hirosim.Config{Seed: o.Seed, History: time.Duration(o.Days) * 24 * time.Hour, PlausibleFees: true}
	faults := hirosim.Faults{PerSecond: o.RPS, PerMinute: o.RPM, PerMinuteKeyed: o.RPM}
	if o.Grow {
		faults.GrowEvery = 5 * time.Second
	}
	fmt.Fprintf(p.Stdout, "simulator: %d days of history, seed %d; Ctrl+C stops it\n", o.Days, o.Seed)
	fmt.Fprintf(p.Stdout, "run a backfill against it (a policy its budget allows, a horizon its history holds), in another terminal:\n")
	fmt.Fprintf(p.Stdout, "  mkdir -p data/sim && sed 's/requests_per_minute: 50$/requests_per_minute: 6000/' backfill.yaml > data/sim/backfill.yaml\n")
	fmt.Fprintf(p.Stdout, "  BACKFILL_POLICY=data/sim/backfill.yaml BACKFILL_TARGET_DAYS=%d HIRO_API_URL=http://%s go run mage.go backfill\n",
		max(1, o.Days-1), ln.Addr())
	err = hirosim.ServeListener(ctx, ln, cfg, faults, func(format string, args ...any) {
		fmt.Fprintf(p.Stdout, format+"\n", args...)
	})
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}
