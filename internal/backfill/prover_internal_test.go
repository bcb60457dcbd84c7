package backfill

import (
	"errors"
	"sync/atomic"
	"testing"
)

// Requests that arrive while a proof runs are served by one more proof
// after it, not one each; the first failure is what later requests and
// wait report.
func TestProverMergesRequests(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	var runs atomic.Int64
	fail := atomic.Bool{}
	p := newProver(func() error {
		runs.Add(1)
		started <- struct{}{}
		<-release
		if fail.Load() {
			return errors.New("prove failed")
		}
		return nil
	})
	if err := p.request(); err != nil {
		t.Fatal(err)
	}
	<-started // the first proof runs
	for range 3 {
		if err := p.request(); err != nil {
			t.Fatal(err)
		}
	}
	release <- struct{}{} // the first ends; one more serves the three
	<-started
	release <- struct{}{}
	if err := p.wait(); err != nil || runs.Load() != 2 {
		t.Fatalf("wait: %v after %d proofs, want no error after 2", err, runs.Load())
	}

	fail.Store(true)
	if err := p.request(); err != nil {
		t.Fatal(err)
	}
	<-started
	release <- struct{}{}
	if err := p.wait(); err == nil || err.Error() != "prove failed" {
		t.Fatalf("wait after a failed proof: %v", err)
	}
	if err := p.request(); err == nil {
		t.Fatal("a request after a failed proof reported no error")
	}
	if runs.Load() != 3 {
		t.Fatalf("%d proofs, want 3: none after the failure", runs.Load())
	}
}
