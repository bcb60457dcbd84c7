package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// SimOptions are the knobs of `mage sim`; zero values take the defaults.
type SimOptions struct {
	Addr string // default 127.0.0.1:3999
	Seed int64
	Days int  // history length; default 30
	RPS  int  // per-second limit with headers and 429s; 0 = unlimited
	RPM  int  // per-minute limit; 0 = unlimited
	Grow bool // append a block every 5 s, like the live chain
}

// Sim serves the Hiro-compatible simulator until Ctrl+C, for manual runs
// (`HIRO_API_URL=http://127.0.0.1:3999 mage backfill`) and benchmarks.
func Sim(ctx context.Context, p Process, o SimOptions) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:3999"
	}
	if o.Days == 0 {
		o.Days = 30
	}
	if o.Days < 1 || o.Days > 3650 || o.RPS < 0 || o.RPM < 0 {
		return exitcode.Errorf(exitcode.BadInput, "sim: -days must be 1..3650 and -rps, -rpm not negative")
	}
	cfg := hirosim.Config{Seed: o.Seed, History: time.Duration(o.Days) * 24 * time.Hour, PlausibleFees: true}
	faults := hirosim.Faults{PerSecond: o.RPS, PerMinute: o.RPM, PerMinuteKeyed: o.RPM}
	if o.Grow {
		faults.GrowEvery = 5 * time.Second
	}
	fmt.Fprintf(p.Stdout, "simulator: %d days of history, seed %d; Ctrl+C stops it\n", o.Days, o.Seed)
	fmt.Fprintf(p.Stdout, "point the backfill at it: HIRO_API_URL=http://%s go run mage.go backfill\n", o.Addr)
	err = hirosim.Serve(ctx, o.Addr, cfg, faults, func(format string, args ...any) {
		fmt.Fprintf(p.Stdout, format+"\n", args...)
	})
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}
