package tasks

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// A flag value the simulator cannot use is exit 2 naming the flag, and a
// busy address fails before anything is printed: no banner announces a
// simulator that is not there.
func TestSimRefusesBadOptions(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests, unlike a defer
	for _, tt := range []struct {
		name   string
		change func(*SimOptions)
		code   int
		want   string
	}{
		{"no days", func(o *SimOptions) { o.Days = 0 }, exitcode.BadInput, "-days=0"},
		{"too many days", func(o *SimOptions) { o.Days = 4000 }, exitcode.BadInput, "-days=4000"},
		{"negative rps", func(o *SimOptions) { o.RPS = -3 }, exitcode.BadInput, "-rps=-3"},
		{"negative rpm", func(o *SimOptions) { o.RPM = -1 }, exitcode.BadInput, "-rpm=-1"},
		{"an address without a port", func(o *SimOptions) { o.Addr = "nohost" }, exitcode.BadInput, "-addr=nohost"},
		{"a busy port", func(o *SimOptions) { o.Addr = busy.Addr().String() }, exitcode.Failure, "cannot listen on " + busy.Addr().String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := DefaultSimOptions()
			tt.change(&o)
			var out strings.Builder
			err := Sim(context.Background(), Process{Stdout: &out, Stderr: io.Discard, Dir: t.TempDir()}, o)
			var coded interface{ ExitStatus() int }
			code := exitcode.Failure
			if errors.As(err, &coded) {
				code = coded.ExitStatus()
			}
			if err == nil || code != tt.code || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "sim: hirosim") {
				t.Fatalf("err %v (exit %d); want exit %d naming %q, once prefixed", err, code, tt.code, tt.want)
			}
			if out.Len() > 0 {
				t.Fatalf("printed %q before failing", out.String())
			}
		})
	}
}

// The simulator prints the commands that run a backfill it can serve: the
// address it listens on and a horizon its history holds.
func TestSimPrintsABackfillItCanServe(t *testing.T) {
	t.Parallel()
	o := DefaultSimOptions()
	o.Addr, o.Days = "127.0.0.1:0", 2
	r, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Sim(ctx, Process{Stdout: w, Stderr: io.Discard, Dir: t.TempDir()}, o); w.Close() }()
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), "serving http://") {
			cancel()
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "BACKFILL_TARGET_DAYS=1 HIRO_API_URL=http://127.0.0.1:") || strings.Contains(text, "127.0.0.1:0 ") ||
		!strings.Contains(text, "BACKFILL_POLICY=data/sim/backfill.yaml") {
		t.Fatalf("printed:\n%s\nwant the policy, a 1-day horizon and the address listened on", text)
	}
}
