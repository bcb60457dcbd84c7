// Package tasks implements the Mage targets. Each target in magefile.go
// forwards to one function here, which loads the policy, wires the internal
// packages together and turns failures into the exit codes of
// docs/design.md#exit-codes. The package also exports the steps that
// targets chain (backfill, coverage check, dashboards, smoke, publish) and
// the writers targets print to; magefile.go uses only the target functions.
// Because magefile.go holds no logic, everything here is covered by go test.
package tasks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/policy"
	"github.com/stxwallets/walletcache/internal/store"
)

// Output is where targets write; tests replace it.
var (
	Stdout io.Writer = os.Stdout
	Stderr io.Writer = os.Stderr
)

// loadPolicy reads the policy and environment; its errors exit 2.
func loadPolicy() (*policy.Policy, error) {
	p, err := policy.FromEnvironment()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// interactive reports whether stderr is a terminal (progress bar) rather
// than a log file, CI or tmux pipe.
func interactive() bool {
	f, ok := Stderr.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) && os.Getenv("CI") == ""
}

// newLogger logs structured lines to stderr. On a terminal the progress bar
// carries the routine news, so only warnings are logged there.
func newLogger() *slog.Logger {
	level := slog.LevelInfo
	if interactive() {
		level = slog.LevelWarn
	}
	if os.Getenv("WALLETCACHE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(Stderr, &slog.HandlerOptions{Level: level}))
}

// lockWait is how long opening waits for a lock held by another process:
// long enough to ride out a status check, short enough to answer promptly.
var lockWait = 3 * time.Second

// openStore opens the database, waiting briefly on a lock. Its errors
// carry their own exit codes: 4 for a lock (*store.LockError), 2 for a
// missing database in read-only mode (store.ErrNoDatabase).
func openStore(ctx context.Context, path string, readOnly bool) (*store.Store, error) {
	return openStoreRaw(ctx, path, readOnly, lockWait)
}

// openStoreRaw opens the database, retrying a held lock for wait (another
// command may hold it for a moment), and returns store errors as they are.
func openStoreRaw(ctx context.Context, path string, readOnly bool, wait time.Duration) (*store.Store, error) {
	deadline := time.Now().Add(wait)
	for {
		s, err := store.Open(ctx, path, store.Options{ReadOnly: readOnly})
		if err == nil || !store.IsLocked(err) || !time.Now().Before(deadline) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, exitcode.New(exitcode.Interrupted, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// fmtDuration prints a duration for people: 2h03m, 45s.
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return d.String()
	}
}
