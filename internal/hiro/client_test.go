package hiro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const okPage = `{"limit":50,"offset":0,"total":0,"results":[]}`

// scripted answers request n (from 0) with steps[n], then with the last step.
func scripted(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1) - 1)
		steps[min(i, len(steps)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, headers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		if code == 200 {
			fmt.Fprint(w, okPage)
		} else {
			fmt.Fprint(w, `{"error":"x"}`)
		}
	}
}

func newTestClient(t *testing.T, url string, mod func(*Options)) *Client {
	t.Helper()
	o := Options{BaseURL: url, RequestsPerMinute: 6000, RequestsPerSecond: 1000, Concurrency: 4,
		Timeout: 2 * time.Second, MaxRetries: 3, MaxWait: 5 * time.Second, BackoffBase: time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientRetries(t *testing.T) {
	truncated := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		fmt.Fprint(w, okPage[:10])
	}
	cutJSON := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, okPage[:20]) }
	tests := []struct {
		name          string
		steps         []func(http.ResponseWriter, *http.Request)
		wantErr       error
		wantRequests  int64
		wantThrottled int64
		wantRetries   int64 // re-sends after a failure; a 429 is pacing, not one
	}{
		{"5xx then ok", []func(http.ResponseWriter, *http.Request){status(503), status(502), status(200)}, nil, 3, 0, 2},
		{"429 with retry-after then ok", []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "0.05"), status(200)}, nil, 2, 1, 0},
		{"429s do not use up retries", []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "0"), status(429, "Retry-After", "0"), status(429, "Retry-After", "0"), status(429, "Retry-After", "0"), status(429, "Retry-After", "0"), status(200)}, nil, 6, 5, 0},
		{"truncated body with content-length", []func(http.ResponseWriter, *http.Request){truncated, status(200)}, nil, 2, 0, 1},
		{"cut JSON", []func(http.ResponseWriter, *http.Request){cutJSON, status(200)}, nil, 2, 0, 1},
		{"410 gone is final", []func(http.ResponseWriter, *http.Request){status(410)}, ErrGone, 1, 0, 0},
		{"quota exhausted stops", []func(http.ResponseWriter, *http.Request){status(429, "X-Ratelimit-Remaining-Stacks-Month", "0", "Retry-After", "1")}, ErrQuotaExhausted, 1, 1, 0},
		{"gives up after max retries", []func(http.ResponseWriter, *http.Request){status(500)}, errAny, 4, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := scripted(t, tt.steps...)
			c := newTestClient(t, srv.URL, nil)
			_, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("want %v, got %v", tt.wantErr, err)
			}
			if got := n.Load(); got != tt.wantRequests {
				t.Fatalf("server saw %d requests, want %d", got, tt.wantRequests)
			}
			if got := c.Stats.Requests.Load(); got != tt.wantRequests {
				t.Fatalf("client counted %d requests, want %d", got, tt.wantRequests)
			}
			if got := c.Stats.Throttled.Load(); got != tt.wantThrottled {
				t.Fatalf("throttled %d, want %d", got, tt.wantThrottled)
			}
			if got := c.Stats.Retries.Load(); got != tt.wantRetries {
				t.Fatalf("retries %d, want %d", got, tt.wantRetries)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestClientBadRequestIsNotRetried(t *testing.T) {
	srv, n := scripted(t, status(400))
	c := newTestClient(t, srv.URL, nil)
	_, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 400 || n.Load() != 1 {
		t.Fatalf("want one 400 StatusError, got %v after %d requests", err, n.Load())
	}
}

func TestClientTimeoutRetried(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	srv, n := scripted(t, slow, status(200))
	c := newTestClient(t, srv.URL, func(o *Options) { o.Timeout = 100 * time.Millisecond })
	if _, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || c.Stats.Timeouts.Load() != 1 {
		t.Fatalf("requests %d timeouts %d", n.Load(), c.Stats.Timeouts.Load())
	}
}

// The key goes out as x-api-key and appears in no log line or error.
func TestClientAPIKeyNeverLogged(t *testing.T) {
	const key = "sk-secret-123"
	var seen atomic.Value
	srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("x-api-key"))
		status(500)(w, r)
	})
	var logs bytes.Buffer
	c := newTestClient(t, srv.URL, func(o *Options) {
		o.APIKey = key
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	_, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0)
	if seen.Load() != key {
		t.Fatalf("x-api-key header was %q", seen.Load())
	}
	if err == nil || strings.Contains(err.Error(), key) || strings.Contains(logs.String(), key) {
		t.Fatalf("key leaked: err=%v logs=%s", err, logs.String())
	}
}

// A lower limit announced by the server replaces the policy's.
func TestClientAdoptsLowerHeaderLimit(t *testing.T) {
	srv, _ := scripted(t, status(200, "X-Ratelimit-Limit-Stacks-Second", "5", "X-Ratelimit-Limit-Stacks-Minute", "120"))
	c := newTestClient(t, srv.URL, nil)
	if _, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0); err != nil {
		t.Fatal(err)
	}
	d, ok := c.Stats.Demand()
	if !ok || d.PerSecond != 5 || d.PerMinute != 120 || d.BelievedPerSecond != 5 || d.BelievedPerMinute != 120 {
		t.Fatalf("demand %+v (%v), want 5/s and 120/min believed", d, ok)
	}
}

// The client never sends faster than its per-second budget, counted in any
// one-second window as a fixed-window gateway would.
func TestClientKeepsToTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about two seconds")
	}
	var mu sync.Mutex
	var times []time.Time
	srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		status(200)(w, r)
	})
	c := newTestClient(t, srv.URL, func(o *Options) { o.RequestsPerSecond = 10 })
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _, _ = c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0) }()
	}
	wg.Wait()
	// Arrival times carry the scheduling delays of a loaded machine, so
	// this checks only what such delays cannot fake: no burst (more than
	// 10 within 600 ms; paced sends put 6 there, and a late one may bunch
	// with the next few), and the last of 20 requests arriving well over a
	// second after the first could be sent (1.9 s when paced; a delay only
	// makes it later; measured from the first arrival instead, a delayed
	// first arrival shortened the span to 1.47 s on a loaded machine). How
	// sends fill each window exactly is TestWindowNeverExceedsTheLimit's,
	// on a fake clock.
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < 600*time.Millisecond; j++ {
			n++
		}
		if n > 10 {
			t.Fatalf("%d requests within 600 ms, budget is 10 a second", n)
		}
	}
	if span := times[len(times)-1].Sub(start); span < 1500*time.Millisecond {
		t.Fatalf("20 requests arrived within %s of the start, budget is 10 a second", span)
	}
}

func TestParseHeaders(t *testing.T) {
	if d, ok := parseRetryAfter("2"); d != 2*time.Second || !ok {
		t.Fatal(d)
	}
	if d, ok := parseRetryAfter("0"); d != 0 || !ok {
		t.Fatal(d, ok)
	}
	if _, ok := parseRetryAfter(""); ok {
		t.Fatal("empty Retry-After parsed")
	}
	if d, _ := parseRetryAfter(time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)); d < time.Second || d > 4*time.Second {
		t.Fatal(d)
	}
	now := time.Unix(1_767_225_600, 0)
	for _, tt := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},         // seconds from now: small values only
		{"1767225610", 10 * time.Second, true}, // the real API: a Unix timestamp
		{"1767225500", 0, true},                // a timestamp already past
		{"86400", 0, false},                    // neither clearly small nor a timestamp
		{"-5", 0, false},
		{"soon", 0, false},
	} {
		if d, ok := parseReset(tt.v, now); d != tt.want || ok != tt.ok {
			t.Errorf("parseReset(%q) = %v %v, want %v %v", tt.v, d, ok, tt.want, tt.ok)
		}
	}
	if d, ok := parseRetryAfter("1000000000000"); !ok || d != maxHeaderWait {
		t.Errorf("Retry-After 10^12 s = %v %v, want the cap %v", d, ok, maxHeaderWait)
	}
}

// freeAddr is a local address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A server that cannot be reached before it ever answered (no such host,
// nothing listening) fails after a couple of quick retries with one line
// naming the address and the reason, not after every retry of a blip.
func TestClientUnreachable(t *testing.T) {
	t.Parallel()
	noHost := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "api.example.invalid", IsNotFound: true}}
	}}}
	refused := "http://" + freeAddr(t)
	for _, tc := range []struct {
		name, url, reason string
		hc                *http.Client
	}{
		{"connection refused", refused, "connection refused", nil},
		{"name does not resolve", "http://api.example.invalid", "the name api.example.invalid does not resolve", noHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, tc.url, func(o *Options) { o.MaxRetries = 8; o.HTTPClient = tc.hc })
			_, err := c.ChainTip(context.Background())
			var ue *UnreachableError
			if !errors.As(err, &ue) {
				t.Fatalf("want an UnreachableError, got %v", err)
			}
			if got := c.Stats.Requests.Load(); got != unreachableRetries+1 {
				t.Fatalf("%d requests, want %d", got, unreachableRetries+1)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.url) || !strings.Contains(msg, tc.reason) || strings.Contains(msg, `Get "`) {
				t.Fatalf("message %q should name %s and %q once", msg, tc.url, tc.reason)
			}
		})
	}
}

// Once the server has answered, a refused connection is a restart: it is
// retried like any transient fault, and the message says it gave up.
func TestClientRefusedAfterAnAnswerIsRetried(t *testing.T) {
	t.Parallel()
	srv, _ := scripted(t, status(200))
	c := newTestClient(t, srv.URL, func(o *Options) { o.MaxRetries = 4 })
	if _, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_, _, err := c.TxPage(context.Background(), Window{Start: 1, End: 2}, 0)
	var re *RetriesError
	if !errors.As(err, &re) || re.Attempts != 5 {
		t.Fatalf("want a RetriesError after 5 attempts, got %v", err)
	}
	if msg := err.Error(); strings.Count(msg, srv.URL) != 1 || !strings.HasSuffix(msg, "(gave up after 5 attempts)") {
		t.Fatalf("message %q should name the URL once and end with the attempts", msg)
	}
}

// 401 and 403 name HIRO_API_KEY and say whether a key was sent.
func TestClientAuthErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		code int
		key  string
		want string
	}{
		{"401 without key", 401, "", "no API key was sent (HIRO_API_KEY is not set)"},
		{"403 without key", 403, "", "no API key was sent (HIRO_API_KEY is not set)"},
		{"401 with key", 401, "k-1", "the server refused the API key in HIRO_API_KEY"},
		{"403 with key", 403, "k-1", "the server refused the API key in HIRO_API_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, n := scripted(t, status(tc.code))
			c := newTestClient(t, srv.URL, func(o *Options) { o.APIKey = tc.key })
			_, err := c.ChainTip(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || n.Load() != 1 {
				t.Fatalf("after %d requests: %v; want it to say %q", n.Load(), err, tc.want)
			}
			if tc.key != "" && strings.Contains(err.Error(), tc.key) {
				t.Fatalf("the key leaked: %v", err)
			}
		})
	}
}
