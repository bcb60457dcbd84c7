package tasks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/status"
)

// TestMain lets the test binary play a `mage backfill` process: with
// WALLETCACHE_CHILD=backfill it runs the target the way Mage's generated
// main does (SIGINT cancels the context) and exits with the target's code.
func TestMain(m *testing.M) {
	if os.Getenv("WALLETCACHE_CHILD") == "backfill" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err := Backfill(ctx, Process{})
		stop()
		if err != nil {
			os.Stderr.WriteString("Error: " + err.Error() + "\n")
		}
		os.Exit(exitcode.Of(err))
	}
	os.Exit(m.Run())
}

// child is a backfill running in another process.
type child struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func (e *env) startChild() *child {
	e.t.Helper()
	c := &child{done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run", "^$")
	c.cmd.Env = append(e.environ(), "WALLETCACHE_CHILD=backfill")
	c.cmd.Dir = e.dir
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	if err := c.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	e.t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// waitPages waits until the child has committed at least n pages.
func (e *env) waitPages(c *child, n int64) {
	e.t.Helper()
	path := progress.PathFor(e.pol().Paths.Database)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if s, ok, _ := progress.Read(path); ok && s.Pages >= n {
			return
		}
		select {
		case err := <-c.done:
			e.t.Fatalf("child ended early (%v): %s", err, c.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	e.t.Fatalf("child committed fewer than %d pages in time: %s", n, c.out.String())
}

// waitRequests waits until the simulator has received n more requests
// than now, while the child runs: a kill after it lands that far into the
// child's next commit cycle.
func (e *env) waitRequests(c *child, n int64) {
	e.t.Helper()
	want := e.sim.Stats().Requests + n
	deadline := time.Now().Add(60 * time.Second)
	for e.sim.Stats().Requests < want {
		if time.Now().After(deadline) {
			e.t.Fatalf("the child sent fewer than %d requests in 60 s: %s", n, c.out.String())
		}
		select {
		case err := <-c.done:
			e.t.Fatalf("child ended early (%v): %s", err, c.out.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// slowSim is a simulator of days of history that answers after latency,
// slow enough that a run can be interrupted midway.
func slowSim(t *testing.T, days int, seed int64, latency time.Duration) *env {
	e := newEnv(t, simConfig(days, seed), "")
	e.sim.SetFaults(hirosim.Faults{Latency: latency, Rate5xx: 0.02, RateTruncate: 0.02})
	return e
}

// Ctrl+C: the child stops, commits what arrived, exits 130 well within
// Mage's 5 s grace; a resumed run makes the database exact.
func TestBackfillSIGINTThenResume(t *testing.T) {
	t.Parallel()
	// About 170 pages: the progress file lags a run by up to a second
	// (about 20 pages), so the interrupt lands well before the end.
	e := slowSim(t, 10, 11, 15*time.Millisecond)
	c := e.startChild()
	e.waitPages(c, 60)
	sent := time.Now()
	interrupt(t, c)
	if !strings.Contains(c.out.String(), "backfill interrupted") {
		t.Fatalf("no summary after Ctrl+C: %s", c.out.String())
	}
	t.Logf("child exited %s after SIGINT", time.Since(sent).Round(time.Millisecond))

	e.sim.SetFaults(hirosim.Faults{})
	sum, err := e.backfill()
	if err != nil || sum.Coverage.Percent != 100 {
		t.Fatalf("resume: %v coverage %.2f", err, sum.Coverage.Percent)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
}

// kill -9 at three moments: nothing half-written survives, and the resumed
// run makes the database exact.
func TestBackfillSIGKILLThenResume(t *testing.T) {
	t.Parallel()
	e := slowSim(t, 12, 12, 15*time.Millisecond)
	// Pages of each run: the whole chain takes about 200 (the progress
	// file that says how far a run is lags it by up to a second, about 20
	// pages), so the third kill still lands before the end.
	for i, pages := range []int64{20, 60, 40} {
		c := e.startChild()
		e.waitPages(c, pages)
		e.waitRequests(c, int64(i*4)) // land somewhere inside a commit cycle
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.done
		// What is on disk must open and hold only whole pages.
		_ = e.stored()
		// The killed run left its progress file claiming to run; status
		// must call it stale, not running.
		rep, err := e.status()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Running != nil || !hasWarning(rep, "killed") {
			t.Fatalf("after kill -9 status says running=%v warnings=%v", rep.Running, rep.Warnings)
		}
	}
	raw := e.pol().Paths.RawDir
	_ = filepath.Walk(raw, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasSuffix(p, ".json.gz") && !strings.HasSuffix(p, ".tmp") && filepath.Base(p) != "chain.json" {
			t.Errorf("unexpected file in the raw cache: %s", p)
		}
		return nil
	})
	e.sim.SetFaults(hirosim.Faults{})
	sum, err := e.backfill()
	if err != nil || sum.Coverage.Percent != 100 {
		t.Fatalf("resume: %v coverage %.2f", err, sum.Coverage.Percent)
	}
	// Resuming continues: only pages in flight or queued at each kill are
	// fetched twice: at most one a worker in flight, the committer's queue
	// (four a worker) and the batch being written (as many again).
	again := 0
	for _, k := range e.sim.Stats().ServedTwice() {
		if finalPage(k, sum.Coverage.Horizon.End) {
			again++
		}
	}
	if perKill := e.pol().Source.Concurrency * (1 + 4 + 4); again > 3*perKill {
		t.Fatalf("%d final pages were fetched twice across 3 kills: the resume started over", again)
	}
	t.Logf("final pages fetched twice across 3 kills: %d", again)
	e.assertEqual(e.sim.All(), farPast, farFuture)
}

func hasWarning(r status.Report, word string) bool {
	for _, w := range r.Warnings {
		if strings.Contains(w, word) {
			return true
		}
	}
	return false
}

// While a backfill runs in another process: a second backfill is refused
// with exit 4 naming the PID, and status reports the live run instead of
// failing on the lock; after it completes status says 100 % and exits 0,
// and with a longer horizon than the data covers it exits 3.
func TestStatusWhileBackfillRuns(t *testing.T) {
	t.Parallel()
	// About 170 pages at 100 ms on 4 connections: the child runs for
	// seconds after its 30th page, longer than the lock wait below.
	e := slowSim(t, 10, 13, 100*time.Millisecond)
	c := e.startChild()
	e.waitPages(c, 30)
	pid := c.cmd.Process.Pid

	_, err := e.backfill()
	if code := exitcode.Of(err); code != exitcode.Locked || !strings.Contains(err.Error(), "PID "+itoa(pid)) {
		t.Fatalf("second backfill: exit %d, %v", code, err)
	}

	var buf bytes.Buffer
	err = Status(context.Background(), e.procTo(&buf), true)
	if code := exitcode.Of(err); code != exitcode.OK && code != exitcode.BelowPolicy {
		t.Fatalf("status during a backfill: exit %d: %v", code, err)
	}
	rep := decodeReport(t, buf.Bytes())
	if rep.Running == nil || rep.Running.PID != pid || rep.Source != "live" {
		t.Fatalf("status did not report the live run: %s", buf.String())
	}

	if err := <-c.done; err != nil {
		t.Fatalf("child: %v: %s", err, c.out.String())
	}
	buf.Reset()
	err = Status(context.Background(), e.procTo(&buf), true)
	rep = decodeReport(t, buf.Bytes())
	if err != nil || rep.CoveragePercent != 100 || rep.Running != nil || rep.Rows != int64(len(e.sim.All())) {
		t.Fatalf("status after completion: %v %s", err, buf.String())
	}

	e.setenv("BACKFILL_TARGET_DAYS", "400")
	err = Status(context.Background(), e.proc(), false)
	if code := exitcode.Of(err); code != exitcode.BelowPolicy {
		t.Fatalf("status with a longer horizon: exit %d (%v)", code, err)
	}
}

// interrupt sends Ctrl+C to the child and asserts it exits 130 within
// Mage's 5 s grace.
func interrupt(t *testing.T, c *child) {
	t.Helper()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("child still running 5 s after SIGINT: %s", c.out.String())
	}
	if code := exitCode(err); code != exitcode.Interrupted {
		t.Fatalf("exit code %d, want 130: %s", code, c.out.String())
	}
}
