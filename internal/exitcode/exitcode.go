// Package exitcode maps the product's failures to the stable process exit
// codes of docs/design.md#exit-codes, so that CI scripts can act on them.
//
// Mage's generated main exits with the status of any returned error that has
// an ExitStatus() int method; Error provides it.
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

// Of returns the exit code an error asks for: the code of the outermost
// *Error in its chain, 0 for nil, and Failure for anything else.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Failure
}
