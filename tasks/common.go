// Package tasks implements the Mage targets. Each exported function is one
// target: it loads the policy, wires the internal packages together and
// turns failures into the exit codes of docs/design.md#exit-codes. A target
// takes a Process, its output writers and environment, so magefile.go
// only forwards to these functions and tests run them in parallel, each
// with its own buffers, variables and folder; everything here is covered
// by go test.
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

// Process is what a target takes from the process that runs it: where it
// writes, the environment it reads (policy overrides, STATUS_FORMAT, CI,
// WALLETCACHE_DEBUG) and the working directory that relative paths
// resolve against. A zero field stands for the real process's: os.Stdout,
// os.Stderr, os.LookupEnv and os.Getwd.
type Process struct {
	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)
	Dir            string
}

// withDefaults fills the zero fields with the real process's.
func (p Process) withDefaults() (Process, error) {
	if p.Stdout == nil {
		p.Stdout = os.Stdout
	}
	if p.Stderr == nil {
		p.Stderr = os.Stderr
	}
	if p.LookupEnv == nil {
		p.LookupEnv = os.LookupEnv
	}
	if p.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return p, exitcode.New(exitcode.BadInput, fmt.Errorf("find the working directory: %w", err))
		}
		p.Dir = wd
	}
	return p, nil
}

// getenv is the value of an environment variable, "" when unset.
func (p Process) getenv(key string) string {
	v, _ := p.LookupEnv(key)
	return v
}

// loadPolicy reads the policy and environment; its errors exit 2.
func (p Process) loadPolicy() (*policy.Policy, error) {
	return policy.FromLookup(p.LookupEnv, p.Dir)
}

// start readies a target: the process's defaults, then the policy.
func (p Process) start() (Process, *policy.Policy, error) {
	p, err := p.withDefaults()
	if err != nil {
		return p, nil, err
	}
	pol, err := p.loadPolicy()
	return p, pol, err
}

// interactive reports whether stderr is a terminal (progress bar) rather
// than a log file, CI or tmux pipe.
func (p Process) interactive() bool {
	f, ok := p.Stderr.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) && p.getenv("CI") == ""
}

// newLogger logs structured lines to stderr. On a terminal the progress bar
// carries the routine news, so only warnings are logged there.
func (p Process) newLogger() *slog.Logger {
	level := slog.LevelInfo
	if p.interactive() {
		level = slog.LevelWarn
	}
	if p.getenv("WALLETCACHE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(p.Stderr, &slog.HandlerOptions{Level: level}))
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
