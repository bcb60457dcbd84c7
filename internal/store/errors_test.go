package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// Store errors own their exit codes, also when a caller wraps them.
func TestErrorExitCodes(t *testing.T) {
	t.Parallel()
	_, noDB := Open(context.Background(), filepath.Join(t.TempDir(), "none.duckdb"), Options{ReadOnly: true})
	lock := parseLockError("/x.duckdb", errString(`IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /usr/bin/mage (PID 4194305).`))
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"lock", lock, exitcode.Locked},
		{"wrapped lock", fmt.Errorf("backfill will not start: %w", lock), exitcode.Locked},
		{"missing database in read-only mode", noDB, exitcode.BadInput},
		{"a caller's own code wins", exitcode.New(exitcode.Failure, lock), exitcode.Failure},
	} {
		if got := exitcode.Of(tc.err); got != tc.want {
			t.Errorf("%s: exit code %d, want %d (%v)", tc.name, got, tc.want, tc.err)
		}
	}
	if !errors.Is(noDB, ErrNoDatabase) {
		t.Errorf("%v does not match ErrNoDatabase", noDB)
	}
}

func TestDiskFull(t *testing.T) {
	t.Parallel()
	duck := errString(`IO Error: Could not write file "/d/w.duckdb.wal": No space left on device`)
	for _, tc := range []struct {
		name string
		err  error
		full bool
	}{
		{"nil", nil, false},
		{"DuckDB's message", duck, true},
		{"wrapped DuckDB message", fmt.Errorf("commit window 3: %w", duck), true},
		{"Go's own errno", &fsError{syscall.ENOSPC}, true},
		{"another I/O error", errString(`IO Error: Could not write file "/d/w": Input/output error`), false},
	} {
		err := tc.err
		diskFull(&err)
		if got := errors.Is(err, syscall.ENOSPC); got != tc.full {
			t.Errorf("%s: errors.Is(ENOSPC) = %v, want %v", tc.name, got, tc.full)
		}
		if tc.err != nil && err.Error() != tc.err.Error() {
			t.Errorf("%s: message changed to %q", tc.name, err)
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: the cause is no longer in the chain", tc.name)
		}
	}
}

// fsError wraps an errno the way *os.PathError does.
type fsError struct{ errno syscall.Errno }

func (e *fsError) Error() string { return "write /d/x: " + e.errno.Error() }
func (e *fsError) Unwrap() error { return e.errno }

// A live holder is named as the user started it, with its folder and PID.
func TestLockErrorNamesTheCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/root/.magefile/3f2a9c1e", "backfill"}, "mage backfill"},
		{[]string{"/home/u/.cache/magefile/ab12", "-v", "dashboards"}, "mage -v dashboards"},
		{[]string{"/usr/local/bin/walletcache", "status"}, "walletcache status"},
		{nil, ""},
	} {
		if got := commandLine(tc.argv); got != tc.want {
			t.Errorf("commandLine(%q) = %q, want %q", tc.argv, got, tc.want)
		}
	}
	self := os.Getpid()
	lock := parseLockError("/x.duckdb", errString(fmt.Sprintf(`IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /root/.magefile/3f2a (PID %d).`, self)))
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	msg := lock.Error()
	for _, want := range []string{fmt.Sprintf("PID %d", self), "`" + filepath.Base(os.Args[0]), "` in " + wd} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, ".magefile") {
		t.Errorf("%q names the cache path", msg)
	}
}
