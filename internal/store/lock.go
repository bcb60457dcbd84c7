package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// LockError says who holds the database file and what to do about it.
// DuckDB allows one writer process per file, and while it writes no other
// process may open the file at all, not even read-only.
type LockError struct {
	Path    string
	PID     int    // 0 when DuckDB did not say
	Program string // the holder's executable, as DuckDB reports it
	// Command is the holder as the user started it ("mage backfill"), and
	// Dir its working directory, read from /proc; empty when unknown.
	Command string
	Dir     string
	Alive   bool // whether a process with PID exists now
	Cause   error
}

// lockHolder matches DuckDB's "Conflicting lock is held in <program> (PID <n>)".
var lockHolder = regexp.MustCompile(`Conflicting lock is held in (.*?) \(PID (\d+)\)`)

// parseLockError recognises DuckDB's lock failure; nil for other errors.
func parseLockError(path string, err error) *LockError {
	msg := err.Error()
	if !strings.Contains(msg, "Could not set lock") && !strings.Contains(msg, "Conflicting lock") {
		return nil
	}
	le := &LockError{Path: path, Cause: err}
	if m := lockHolder.FindStringSubmatch(msg); m != nil {
		le.Program = m[1]
		le.PID, _ = strconv.Atoi(m[2])
		le.Alive = ProcessAlive(le.PID)
		if le.Alive {
			le.Command, le.Dir = describeProcess(le.PID)
		}
	}
	return le
}

// describeProcess reads how a process was started and where it runs, on
// systems with /proc; empty strings elsewhere.
func describeProcess(pid int) (command, dir string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err == nil {
		command = commandLine(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"))
	}
	dir, _ = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return command, dir
}

// commandLine is argv as the user typed it. Mage runs a target as a binary
// compiled into its cache (~/.magefile/<hash> backfill), which no one
// recognises: that is shown as the mage command that started it.
func commandLine(argv []string) string {
	if len(argv) == 0 || argv[0] == "" {
		return ""
	}
	name := filepath.Base(argv[0])
	if strings.Contains(argv[0], "magefile") {
		name = "mage"
	}
	return strings.Join(append([]string{name}, argv[1:]...), " ")
}

// holder names the process holding the lock for people.
func (e *LockError) holder() string {
	switch {
	case e.Command != "" && e.Dir != "":
		return fmt.Sprintf("`%s` in %s", e.Command, e.Dir)
	case e.Command != "":
		return "`" + e.Command + "`"
	}
	return e.Program
}

// Error explains the lock in the operator's terms.
func (e *LockError) Error() string {
	switch {
	case e.PID == 0:
		return fmt.Sprintf("database %s is locked by another process (DuckDB did not say which): find it with `fuser %s` and stop it, or wait for it to finish", e.Path, e.Path)
	case e.Alive:
		return fmt.Sprintf("database %s is in use by PID %d (%s), which is running: wait for it to finish, or stop it with `kill -INT %d` (it commits what it fetched and exits); nothing was changed", e.Path, e.PID, e.holder(), e.PID)
	default:
		return fmt.Sprintf("database %s is locked by PID %d (%s), which is no longer running: the lock is stale; run the command again, and if it persists check `fuser %s`", e.Path, e.PID, e.Program, e.Path)
	}
}

// Unwrap exposes DuckDB's own error.
func (e *LockError) Unwrap() error { return e.Cause }

// ExitStatus is the exit code of a command stopped by the lock: 4, the
// database is held by another process.
func (e *LockError) ExitStatus() int { return exitcode.Locked }

// ProcessAlive reports whether a process with this PID exists.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// IsLocked tells whether err is (or wraps) a lock conflict.
func IsLocked(err error) bool {
	var le *LockError
	return errors.As(err, &le)
}
