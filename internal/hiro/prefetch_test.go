package hiro

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// blockServer answers /extended/v2/blocks/{h} with the block at h and
// counts requests; bad answers the first request with a body that is not
// a block.
func blockServer(t *testing.T, bad bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		h := strings.TrimPrefix(r.URL.Path, "/extended/v2/blocks/")
		switch {
		case h == "404":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"block not found"}`)
		case bad && i == 1:
			fmt.Fprint(w, `{"height":`)
		default:
			fmt.Fprintf(w, `{"height":%s,"hash":"0x%064x"}`, h, 7)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A prefetched request serves the first Get of its URL, once: that Get
// sends nothing, the next one asks the server again, and another URL is
// never served from it.
func TestPrefetchServesTheFirstGetOnce(t *testing.T) {
	srv, n := blockServer(t, false)
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	<-c.PrefetchBlockHash(ctx, 12)
	if n.Load() != 1 {
		t.Fatalf("%d requests after the prefetch, want 1", n.Load())
	}
	hash, err := c.BlockHash(ctx, 12)
	if err != nil || hash != fmt.Sprintf("0x%064x", 7) {
		t.Fatalf("BlockHash: %q, %v", hash, err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d requests after the Get the prefetch was for, want 1", n.Load())
	}
	if _, err := c.BlockHash(ctx, 13); err != nil || n.Load() != 2 {
		t.Fatalf("another height: %v, %d requests, want 2", err, n.Load())
	}
	if _, err := c.BlockHash(ctx, 12); err != nil || n.Load() != 3 {
		t.Fatalf("the same height again: %v, %d requests, want 3 (a prefetch serves one Get)", err, n.Load())
	}
}

// A Get that starts while its prefetch is still under way waits for it
// instead of asking again.
func TestPrefetchInFlightIsWaitedFor(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		<-release
		fmt.Fprintf(w, `{"height":5,"hash":"0x%064x"}`, 7)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, nil)
	done := c.PrefetchBlockHash(context.Background(), 5)
	got := make(chan error, 1)
	go func() {
		_, err := c.BlockHash(context.Background(), 5)
		got <- err
	}()
	close(release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	<-done
	if n.Load() != 1 {
		t.Fatalf("%d requests, want 1: the Get must wait for the prefetch under way", n.Load())
	}
}

// A prefetched body the decoder rejects is not believed: the Get asks
// again and returns the good answer.
func TestPrefetchMalformedIsAskedAgain(t *testing.T) {
	srv, n := blockServer(t, true)
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	<-c.PrefetchBlockHash(ctx, 9)
	if _, err := c.BlockHash(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || c.Stats.Malformed.Load() != 1 {
		t.Fatalf("%d requests, %d malformed; want 2 and 1", n.Load(), c.Stats.Malformed.Load())
	}
}

// A prefetch's final error is the Get's, without another request; one its
// own context cancelled is not: the Get asks itself.
func TestPrefetchErrors(t *testing.T) {
	srv, n := blockServer(t, false)
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	<-c.PrefetchBlockHash(ctx, 404)
	if _, err := c.BlockHash(ctx, 404); !errors.Is(err, ErrBlockNotFound) || n.Load() != 1 {
		t.Fatalf("err %v after %d requests, want ErrBlockNotFound after 1", err, n.Load())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	<-c.PrefetchBlockHash(cancelled, 3)
	if _, err := c.BlockHash(ctx, 3); err != nil || n.Load() != 2 {
		t.Fatalf("after a cancelled prefetch: %v, %d requests, want the Get's own (2)", err, n.Load())
	}
}

// An answer older than prefetchMaxAge no longer says what the server
// holds: the Get asks again.
func TestPrefetchExpires(t *testing.T) {
	srv, n := blockServer(t, false)
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	<-c.PrefetchBlockHash(ctx, 4)
	c.preMu.Lock()
	for _, p := range c.pre {
		p.sent = p.sent.Add(-prefetchMaxAge - time.Second)
	}
	c.preMu.Unlock()
	if _, err := c.BlockHash(ctx, 4); err != nil || n.Load() != 2 {
		t.Fatalf("%v, %d requests; want a request of its own (2)", err, n.Load())
	}
}

// BlockAtDepth reads the block a depth below the newest and refuses a list
// whose total contradicts its results.
func TestBlockAtDepth(t *testing.T) {
	hash := fmt.Sprintf("0x%064x", 1)
	for _, tc := range []struct {
		name, body string
		height     int64
		err        error
	}{
		{"found", `{"total":2000,"results":[{"height":1000,"hash":"` + hash + `"}]}`, 1000, nil},
		{"too short", `{"total":1000,"results":[]}`, 0, ErrBlockNotFound},
		{"missing", `{"total":2000,"results":[]}`, 0, ErrMalformed},
		{"beyond the total", `{"total":900,"results":[{"height":1,"hash":"` + hash + `"}]}`, 0, ErrMalformed},
		{"bad hash", `{"total":2000,"results":[{"height":1000,"hash":"0x12"}]}`, 0, ErrMalformed},
		{"no total", `{"results":[{"height":1000,"hash":"` + hash + `"}]}`, 0, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/extended/v2/blocks" || r.URL.Query().Get("offset") != "1000" || r.URL.Query().Get("limit") != "1" {
					t.Errorf("request %s", r.URL)
				}
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := newTestClient(t, srv.URL, func(o *Options) { o.MaxRetries = 0 })
			h, got, err := c.BlockAtDepth(context.Background(), 1000)
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("err %v, want %v", err, tc.err)
			case tc.err == nil && (err != nil || h != tc.height || got != hash):
				t.Fatalf("%d %q %v, want %d %q", h, got, err, tc.height, hash)
			}
		})
	}
}
