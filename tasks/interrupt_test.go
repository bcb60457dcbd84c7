package tasks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// interruptChild is set in the child process of TestSecondInterruptExits130.
const interruptChild = "WALLETCACHE_TEST_INTERRUPT_CHILD"

// TestInterruptChild is the child: it listens for SIGINT as Mage does,
// installs ExitOnSecondInterrupt, and reports each step on stdout.
func TestInterruptChild(t *testing.T) {
	if os.Getenv(interruptChild) == "" {
		t.Skip("run by TestSecondInterruptExits130")
	}
	mage := make(chan os.Signal, 1)
	signal.Notify(mage, os.Interrupt)
	defer exitOnSecondInterrupt(os.Stderr, os.Exit, func() { fmt.Println("armed") })()
	fmt.Println("ready")
	<-mage    // Mage cancels the target, which would now be committing
	select {} // only the second signal ends this
}

// A second Ctrl+C exits 130 at once, not "exit forced" with 1.
func TestSecondInterruptExits130(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptChild$")
	cmd.Env = append(os.Environ(), interruptChild+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			_ = cmd.Process.Kill()
			t.Fatalf("child said %q, want %q (stderr %s)", lines.Text(), want, stderr.String())
		}
	}
	expect("ready")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	expect("armed")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("want exit 130, got %v (stderr %s)", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "second Ctrl+C: exiting at once (exit 130)") {
		t.Fatalf("stderr %q", stderr.String())
	}
}
