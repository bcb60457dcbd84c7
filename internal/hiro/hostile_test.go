package hiro

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options come from the policy; New refuses what is out of range rather
// than inventing a default.
func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	good := Options{BaseURL: "http://127.0.0.1:1", RequestsPerMinute: 50, RequestsPerSecond: 20, Concurrency: 4,
		Timeout: time.Second, MaxRetries: 0, MaxWait: time.Minute}
	if _, err := New(good); err != nil {
		t.Fatalf("good options: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"no base URL", func(o *Options) { o.BaseURL = "" }},
		{"ftp URL", func(o *Options) { o.BaseURL = "ftp://example.com" }},
		{"no concurrency", func(o *Options) { o.Concurrency = 0 }},
		{"no timeout", func(o *Options) { o.Timeout = 0 }},
		{"no minute budget", func(o *Options) { o.RequestsPerMinute = 0 }},
		{"no second budget", func(o *Options) { o.RequestsPerSecond = 0 }},
		{"negative retries", func(o *Options) { o.MaxRetries = -1 }},
		{"no max wait", func(o *Options) { o.MaxWait = 0 }},
		{"negative backoff", func(o *Options) { o.BackoffBase = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := good
			tt.mod(&o)
			if _, err := New(o); err == nil {
				t.Fatalf("New accepted %+v", o)
			}
		})
	}
}

// recorder is a server that notes the headers of every request it gets.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
}

func (r *recorder) handler(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
		next(w, req)
	}
}

func (r *recorder) seen() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

// The API key goes to the configured origin only: a redirect to another
// host:port is refused before anything is sent there, and not retried.
func TestClientRefusesCrossOriginRedirect(t *testing.T) {
	t.Parallel()
	const key = "sk-redirect-secret"
	var other recorder
	elsewhere := httptest.NewServer(other.handler(status(200)))
	t.Cleanup(elsewhere.Close)
	var home recorder
	srv := httptest.NewServer(home.handler(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/extended/v1/tx":
			http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/extended/v2/blocks?limit=1", http.StatusMovedPermanently)
		default:
			w.WriteHeader(200)
			fmt.Fprint(w, `{"ok":true}`)
		}
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, func(o *Options) { o.APIKey = key })

	_, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0)
	var re *RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("want a RedirectError, got %v", err)
	}
	if strings.Contains(err.Error(), key) {
		t.Fatalf("error shows the key: %v", err)
	}
	if n := len(other.seen()); n != 0 {
		t.Fatalf("the other origin got %d requests (headers %v)", n, other.seen())
	}
	if n := len(home.seen()); n != 1 {
		t.Fatalf("a refused redirect was retried: %d requests", n)
	}

	// A redirect within the origin is followed, key and all.
	if _, err := c.Get(context.Background(), "/moved", nil, nil); err != nil {
		t.Fatalf("same-origin redirect: %v", err)
	}
	h := home.seen()
	if last := h[len(h)-1]; last.Get("x-api-key") != key {
		t.Fatalf("same-origin redirect lost the key: %v", last)
	}
}

// A password in the base URL is sent as basic auth and shown nowhere: not
// in errors of any kind, not in logs.
func TestClientRedactsURLPassword(t *testing.T) {
	t.Parallel()
	const password = "pa55-w0rd-secret"
	var rec recorder
	srv := httptest.NewServer(rec.handler(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/extended/v1/tx":
			status(500)(w, r)
		default:
			status(400)(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	withUser := strings.Replace(srv.URL, "http://", "http://walletcache:"+password+"@", 1)
	var logs bytes.Buffer
	c := newTestClient(t, withUser, func(o *Options) {
		o.MaxRetries = 1
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	_, _, err5xx := c.TxPage(ctx, Window{Start: 1, End: 2}, 0)
	_, err4xx := c.Get(ctx, "/bad", nil, nil)

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := strings.Replace(dead.URL, "http://", "http://walletcache:"+password+"@", 1)
	dead.Close()
	cd := newTestClient(t, deadURL, func(o *Options) { o.MaxRetries = 0 })
	_, errNet := cd.Get(ctx, "/x", nil, nil)

	for name, err := range map[string]error{"5xx": err5xx, "4xx": err4xx, "network": errNet} {
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("%s error shows the password: %v", name, err)
		}
	}
	var se *StatusError
	if !errors.As(err4xx, &se) || strings.Contains(se.URL, password) {
		t.Errorf("StatusError %+v", se)
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("logs show the password: %s", logs.String())
	}
	h := rec.seen()
	if len(h) == 0 {
		t.Fatal("server saw nothing")
	}
	req := &http.Request{Header: h[0]}
	if u, p, ok := req.BasicAuth(); !ok || u != "walletcache" || p != password {
		t.Fatalf("basic auth %q %q %v, want the URL's user info", u, p, ok)
	}
}

// gzipBomb is about 1 MB of gzip that inflates to 1 GiB: 1024 gzip members
// of 1 MiB of zeros each (readers inflate concatenated members as one
// stream).
var gzipBomb = sync.OnceValue(func() []byte {
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return bytes.Repeat(member.Bytes(), 1024)
})

// A body that inflates past MaxBodyBytes is a bad response: read no
// further than the cap, retried within MaxRetries, then given up.
func TestClientCapsDecodedBody(t *testing.T) {
	t.Parallel()
	bomb := gzipBomb()
	srv, n := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Errorf("client did not offer gzip: %v", r.Header)
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(bomb)
	})
	c := newTestClient(t, srv.URL, func(o *Options) { o.MaxRetries = 2 })
	_, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0)
	if !errors.Is(err, ErrBodyTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("want ErrBodyTooLarge, got %v", err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d requests, want 3 (one and two retries)", n.Load())
	}
	if b := c.Stats.Bytes.Load(); b > 3*(MaxBodyBytes+1) {
		t.Fatalf("read %d bytes, more than the cap allows", b)
	}
}

// Rate-limit headers are believed within bounds only; what the server
// demands is logged and kept on Stats; a wait beyond MaxWait ends the
// request with a *RateLimitError instead of stalling the run.
func TestClientBoundsRateLimitHeaders(t *testing.T) {
	t.Parallel()
	farReset := strconv.FormatInt(time.Now().Add(1e6*time.Second).Unix(), 10)
	tests := []struct {
		name         string
		steps        []func(http.ResponseWriter, *http.Request)
		maxWait      time.Duration
		calls        int // TxPage calls; the last must fail with a RateLimitError when wantLimitErr
		wantLimitErr bool
		maxRequests  int64
		check        func(t *testing.T, c *Client, logs string)
	}{
		{name: "tiny minute limit is floored", steps: steps(status(200, "X-Ratelimit-Limit-Stacks-Minute", "0.001", "X-Ratelimit-Limit-Stacks-Second", "0.0001")),
			maxWait: 5 * time.Second, calls: 1, maxRequests: 1,
			check: func(t *testing.T, c *Client, logs string) {
				c.mu.Lock()
				m, s := c.limits.minute, c.limits.second
				c.mu.Unlock()
				if m != MinBelievedPerMinute || s != MinBelievedPerSecond {
					t.Fatalf("believed %v/min %v/s, want the floors", m, s)
				}
				if d, _ := c.Stats.Demand(); d.PerMinute != 0.001 || d.BelievedPerMinute != MinBelievedPerMinute {
					t.Fatalf("demand %+v", d)
				}
				if !strings.Contains(logs, "0.001") {
					t.Fatalf("log does not say what the server announced: %s", logs)
				}
			}},
		{name: "retry-after of an hour", steps: steps(status(429, "Retry-After", "3600")),
			maxWait: 5 * time.Second, calls: 1, wantLimitErr: true, maxRequests: 1,
			check: func(t *testing.T, c *Client, _ string) {
				if d, _ := c.Stats.Demand(); d.RetryAfter != time.Hour || d.BelievedRetryAfter != 5*time.Second {
					t.Fatalf("demand %+v", d)
				}
			}},
		{name: "retry-after of 10^12 seconds", steps: steps(status(429, "Retry-After", "1000000000000")),
			maxWait: 5 * time.Second, calls: 1, wantLimitErr: true, maxRequests: 1},
		{name: "429 without retry-after beyond max wait", steps: steps(status(429)),
			maxWait: 5 * time.Second, calls: 1, wantLimitErr: true, maxRequests: 1},
		{name: "constant 429 with retry-after 0", steps: steps(status(429, "Retry-After", "0")),
			maxWait: 300 * time.Millisecond, calls: 1, wantLimitErr: true, maxRequests: 30},
		{name: "remaining 0 with a far reset", steps: steps(status(200, "X-Ratelimit-Remaining-Stacks-Minute", "0", "Ratelimit-Reset", farReset)),
			maxWait: 5 * time.Second, calls: 2, wantLimitErr: true, maxRequests: 1,
			check: func(t *testing.T, c *Client, logs string) {
				c.mu.Lock()
				until := time.Until(c.pausedTo)
				c.mu.Unlock()
				if until > MaxMinutePause {
					t.Fatalf("paused for %v, more than a minute window", until)
				}
				if !strings.Contains(logs, "more than a minute") {
					t.Fatalf("log does not say the reset was not believed: %s", logs)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, n := scripted(t, tt.steps...)
			var logs syncBuffer
			c := newTestClient(t, srv.URL, func(o *Options) {
				o.MaxWait = tt.maxWait
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			begun := time.Now()
			var err error
			for range tt.calls {
				_, _, err = c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0)
			}
			var rl *RateLimitError
			switch {
			case tt.wantLimitErr && !errors.As(err, &rl):
				t.Fatalf("want a RateLimitError, got %v", err)
			case !tt.wantLimitErr && err != nil:
				t.Fatal(err)
			}
			if el := time.Since(begun); el > tt.maxWait+2*time.Second {
				t.Fatalf("took %v, max wait is %v", el, tt.maxWait)
			}
			if got := n.Load(); got > tt.maxRequests {
				t.Fatalf("%d requests, want at most %d", got, tt.maxRequests)
			}
			if tt.check != nil {
				tt.check(t, c, logs.String())
			}
		})
	}
}

func steps(s ...func(http.ResponseWriter, *http.Request)) []func(http.ResponseWriter, *http.Request) {
	return s
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A request that costs N (x-ratelimit-cost-stacks) takes N tokens from both
// buckets, within MaxRequestCost.
func TestClientSpendsRequestCost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cost     string
		wantCost int64
	}{{"1", 1}, {"5", 5}, {"1000000000", MaxRequestCost}, {"0", 1}, {"x", 1}}
	for _, tt := range tests {
		t.Run(tt.cost, func(t *testing.T) {
			t.Parallel()
			srv, _ := scripted(t, status(200, "X-Ratelimit-Cost-Stacks", tt.cost))
			c := newTestClient(t, srv.URL, func(o *Options) { o.RequestsPerSecond = 1; o.RequestsPerMinute = 60 })
			if _, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0); err != nil {
				t.Fatal(err)
			}
			if got := c.Stats.Cost.Load(); got != tt.wantCost {
				t.Fatalf("cost %d, want %d", got, tt.wantCost)
			}
			// The request was charged to its one-a-second window when sent,
			// the rest of its cost on the answer: the window (or, once it
			// has passed, the debt the next carries) holds all but what
			// passed windows absorbed.
			c.mu.Lock()
			charged, _ := c.second.state(c.second.indexOf(time.Now()))
			c.mu.Unlock()
			if int64(charged) < tt.wantCost-2 {
				t.Fatalf("second window holds %d after a request costing %d", charged, tt.wantCost)
			}
		})
	}
}

// Remaining-request headers that cannot be true never let the client send
// more in a window than its budget; a believable one lowers it.
func TestClientRemainingHeadersOnlyLower(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		headers   []string
		wantAllow int // the one-second window's allowance after the answer, budget 5
	}{
		{"remaining above its limit", []string{"X-Ratelimit-Limit-Stacks-Second", "5", "X-Ratelimit-Remaining-Stacks-Second", "1000"}, 5},
		{"remaining far above the budget, no limit", []string{"X-Ratelimit-Remaining-Stacks-Second", "1e12"}, 5},
		{"remaining not a number", []string{"X-Ratelimit-Remaining-Stacks-Second", "NaN"}, 5},
		{"remaining infinite", []string{"X-Ratelimit-Remaining-Stacks-Second", "+Inf"}, 5},
		{"negative remaining: nothing left", []string{"X-Ratelimit-Remaining-Stacks-Second", "-3"}, 1},
		{"two left after this one", []string{"X-Ratelimit-Remaining-Stacks-Second", "2"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// No server: the answer's headers are read against a booking
			// that is the only one of its window.
			c := newTestClient(t, "http://127.0.0.1:1", func(o *Options) { o.RequestsPerSecond = 5 })
			var tk ticket
			c.mu.Lock()
			now := time.Now()
			tk.second, tk.secondUsed = c.second.take(now)
			tk.minute, tk.minuteUsed = c.minute.take(now)
			c.mu.Unlock()
			h := http.Header{}
			for i := 0; i+1 < len(tt.headers); i += 2 {
				h.Set(tt.headers[i], tt.headers[i+1])
			}
			c.observe(h, tk)
			c.mu.Lock()
			_, allow := c.second.state(tk.second)
			c.mu.Unlock()
			if allow != tt.wantAllow {
				t.Fatalf("window allows %d, want %d", allow, tt.wantAllow)
			}
		})
	}
}
