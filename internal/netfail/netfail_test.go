package netfail

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestReason(t *testing.T) {
	t.Parallel()
	dial := func(e error) error {
		return fmt.Errorf("get: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", e)})
	}
	for _, tt := range []struct {
		name string
		err  error
		want string // "" when it is not a reachability failure
	}{
		{"unknown name", &net.DNSError{Name: "db.example", Err: "no such host", IsNotFound: true, Server: "10.0.0.53:53"}, "the name db.example does not resolve"},
		{"resolver failing", &net.DNSError{Name: "db.example", Err: "server misbehaving"}, "DNS lookup of db.example failed: server misbehaving"},
		{"refused", dial(syscall.ECONNREFUSED), "connection refused: nothing listens there"},
		{"no network", dial(syscall.ENETUNREACH), "network unreachable"},
		{"no route", dial(syscall.EHOSTUNREACH), "no route to host"},
		{"another failure", errors.New("HTTP 500"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Reason(tt.err)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("Reason = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}
