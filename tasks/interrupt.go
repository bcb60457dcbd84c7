package tasks

import (
	"fmt"
	"io"
	"os"
	"os/signal"
)

// ExitOnSecondInterrupt makes a second Ctrl+C end the process at once with
// exit 130. The first one cancels the target's context (Mage does that),
// and the target commits what arrived and exits 130 itself; Mage would
// answer a second one with "exit forced" and exit 1, which a script cannot
// tell from a failure. So, at the first Ctrl+C, this takes SIGINT over
// from Mage. The returned stop undoes it when the target returns.
func ExitOnSecondInterrupt(stderr io.Writer) (stop func()) {
	return exitOnSecondInterrupt(stderr, os.Exit, func() {})
}

// exitOnSecondInterrupt is ExitOnSecondInterrupt with its exit, and armed
// called once a second SIGINT would be heard (for tests).
func exitOnSecondInterrupt(stderr io.Writer, exit func(int), armed func()) (stop func()) {
	first := make(chan os.Signal, 1)
	signal.Notify(first, os.Interrupt)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-first:
		case <-done:
			return
		}
		// Reset stops delivery to every channel, Mage's too; from now on
		// only this one hears SIGINT.
		signal.Reset(os.Interrupt)
		second := make(chan os.Signal, 1)
		signal.Notify(second, os.Interrupt)
		defer signal.Stop(second)
		armed()
		select {
		case <-second:
			fmt.Fprintln(stderr, "\nsecond Ctrl+C: exiting at once (exit 130); committed pages are safe, pages in flight are dropped")
			exit(130)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(first)
		close(done)
		<-finished
	}
}
