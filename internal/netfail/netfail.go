// Package netfail says in words why a server could not be reached at all:
// the one definition the API client, the seed and the price source share,
// so that every command names a dead address the same way.
package netfail

import (
	"errors"
	"net"
	"syscall"
)

// Reason tells whether err says the server cannot be reached at all (a
// name that does not resolve, a refused connection, no route), and why in
// a few words; ok is false for any other failure.
func Reason(err error) (reason string, ok bool) {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "the name " + dns.Name + " does not resolve", true
		}
		return "DNS lookup of " + dns.Name + " failed: " + dns.Err, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens there", true
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable", true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host", true
	}
	return "", false
}
