// Package exitcode holds the stable process exit codes every command uses
// (listed in docs/design.md), so that CI scripts can act on them.
//
// An error owns its exit code: it has an ExitStatus() int method, either
// because its type knows what it means (a *store.LockError exits 4) or
// because a caller gave it one with New or Errorf. Of reads the code from
// an error chain; Expose puts it where Mage's generated main looks.
package exitcode

import (
	"errors"
	"fmt"
)

// The exit codes every command uses.
const (
	OK          = 0   // success
	Failure     = 1   // unexpected failure
	BadInput    = 2   // bad policy, flag or environment value; nothing was touched
	BelowPolicy = 3   // coverage below coverage.min_percent
	Locked      = 4   // the database is held by another process
	Interrupted = 130 // stopped by Ctrl+C; what arrived was committed
)

// Error is an error that carries the exit code the process should end with.
type Error struct {
	Code int
	Err  error
}

// Error returns the wrapped message.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// ExitStatus is read by Mage's generated main to choose the exit code.
func (e *Error) ExitStatus() int { return e.Code }

// New wraps err with an exit code. A nil err stays nil.
func New(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Errorf formats a message and gives it an exit code; %w verbs wrap as usual.
func Errorf(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Status is implemented by errors that choose the process's exit code.
// It is the interface Mage's generated main looks for.
type Status interface {
	error
	ExitStatus() int
}

// Of returns the exit code an error asks for: the ExitStatus of the
// outermost error in its chain that has one, 0 for nil, and Failure for
// anything else. The outermost wins so that a caller can restate a cause
// (a lock met while checking coverage) with a code of its own.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var s Status
	if errors.As(err, &s) {
		return s.ExitStatus()
	}
	return Failure
}

// Expose returns err with its exit code (Of) on the outermost error. Mage's
// generated main type-asserts the returned error itself rather than
// searching its chain, so a target returns Expose(err) to exit with the
// code of a wrapped cause such as a *store.LockError. A nil err stays nil.
func Expose(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(Status); ok {
		return err
	}
	return &Error{Code: Of(err), Err: err}
}
