// Package hiro is the client of the Hiro Stacks Blockchain API: it pages
// closed time windows of /extended/v1/tx (v1.go) and the keyset cursor of
// /extended/v3/transactions (v3.go), reads the chain tip, looks up blocks by
// time, decodes every body strictly (decode.go), and spends the rate budget
// carefully: requests paced into the server's second and minute windows
// at the full limit (pace.go), kept to what the x-ratelimit-* headers say
// is left, Retry-After on 429, and exponential
// backoff with equal jitter on server errors, timeouts and truncated bodies.
package hiro

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stxwallets/walletcache/internal/netfail"
	"github.com/stxwallets/walletcache/internal/policy"
)

// PageLimit is the page size asked of both transaction lists: the largest
// page /extended/v1/tx serves.
const PageLimit = 50

// Errors a caller acts on.
var (
	// ErrGone is a 410: the operator switched the endpoint off (the v1 sunset).
	ErrGone = errors.New("endpoint switched off by the server (410 Gone)")
	// ErrQuotaExhausted means the monthly quota header reached zero; retrying
	// before the quota resets only burns time.
	ErrQuotaExhausted = errors.New("monthly request quota exhausted (x-ratelimit-remaining-stacks-month is 0)")
)

// StatusError is an answer the client does not retry (4xx other than 429).
type StatusError struct {
	URL    string
	Status int
	Body   string
	// KeySent tells whether the request carried an API key (x-api-key):
	// a 401 or 403 means something else with and without one.
	KeySent bool
}

// Error names the request, the status and the body (and, for 401 and 403,
// whether a key was sent).
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.Status, e.Body)
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		if e.KeySent {
			return msg + "; the server refused the API key in HIRO_API_KEY (it was sent as x-api-key): check or replace it"
		}
		return msg + "; no API key was sent (HIRO_API_KEY is not set): set HIRO_API_KEY to a key this server accepts"
	}
	return msg
}

// UnreachableError means the server could not be reached at all before it
// had ever answered: its name does not resolve, nothing listens on its
// port, or there is no route to it. That is a wrong address or no
// network, not a passing fault, so it is retried only briefly.
type UnreachableError struct {
	Addr     string // the server's origin, redacted
	Reason   string // what failed, in words ("connection refused")
	Attempts int
	Err      error
}

// Error names the server, why it could not be reached and the attempts made.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s (%s, %d attempts)", e.Addr, e.Reason, e.Attempts)
}

// Unwrap exposes the network error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// RetriesError is a transient failure that outlasted every retry; it reads
// as the last failure, then how many attempts were made.
type RetriesError struct {
	Attempts int
	Err      error // the last attempt's failure
}

// Error is the last failure and the attempts made.
func (e *RetriesError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts)", e.Err, e.Attempts)
}

// Unwrap exposes the last failure.
func (e *RetriesError) Unwrap() error { return e.Err }

// Limits on retrying an unreachable server (UnreachableError): a couple of
// quick retries ride out a resolver hiccup, and the whole request gives
// up well within 20 seconds.
const (
	unreachableRetries = 2
	unreachableBudget  = 10 * time.Second
)

// Options configure a Client. Every value comes from the policy (its
// defaults live in internal/policy, not here); New refuses a value that is
// out of range instead of inventing one.
type Options struct {
	// BaseURL is the server root, e.g. https://api.hiro.so. A user:password
	// in it is sent as HTTP basic auth and never appears in an error or log.
	BaseURL           string
	APIKey            string        // sent as x-api-key, to BaseURL's origin only; never logged
	RequestsPerMinute float64       // client-side budget; lower limits from headers win
	RequestsPerSecond float64       // secondary limit
	Concurrency       int           // requests in flight
	Timeout           time.Duration // per attempt
	MaxRetries        int           // for 5xx, timeouts and bad bodies; 0 means none
	// MaxWait bounds how long one request waits for the server's rate
	// limits (429 Retry-After, exhausted windows) before it gives up with
	// a *RateLimitError.
	MaxWait    time.Duration
	HTTPClient *http.Client // nil: a client of its own
	Logger     *slog.Logger // nil: discard
	// BackoffBase is the first retry delay (doubled per attempt, capped at
	// 30 s, with equal jitter: half fixed, half random). It is a protocol
	// constant, not a policy value: zero means 500 ms; tests shorten it.
	BackoffBase time.Duration
}

// defaultBackoffBase is the first retry delay when Options.BackoffBase is 0.
const defaultBackoffBase = 500 * time.Millisecond

// Stats counts what the client did; safe to read while it runs.
type Stats struct {
	Requests     atomic.Int64 // every HTTP request sent
	Retries      atomic.Int64 // requests sent again after a failure (not after a 429: Throttled counts those)
	Throttled    atomic.Int64 // 429 answers
	ServerErrors atomic.Int64 // 5xx answers
	Malformed    atomic.Int64 // truncated, oversized or undecodable bodies and impossible values
	Timeouts     atomic.Int64 // attempts that hit the timeout or a network error
	Bytes        atomic.Int64 // response bytes read (after decompression)
	Cost         atomic.Int64 // rate-limit tokens spent (x-ratelimit-cost-stacks, 1 when absent)
	Waited       atomic.Int64 // nanoseconds requests were paused for the server's limits

	demand atomic.Pointer[Demand]
}

// Demand is what the server last asked of the client in its rate-limit
// headers, as sent (before the client's bounds), for status and logs.
type Demand struct {
	At                 time.Time     // when the answer carrying it arrived
	PerMinute          float64       // x-ratelimit-limit-stacks-minute; 0 when absent
	PerSecond          float64       // x-ratelimit-limit-stacks-second; 0 when absent
	RemainingMinute    float64       // x-ratelimit-remaining-stacks-minute; -1 when absent
	RetryAfter         time.Duration // Retry-After of the last 429; -1 when absent
	Cost               int64         // x-ratelimit-cost-stacks; 0 when absent
	BelievedPerMinute  float64       // the per-minute budget the client keeps to
	BelievedPerSecond  float64       // the per-second budget the client keeps to
	BelievedRetryAfter time.Duration // the pause the client took for RetryAfter
}

// Demand returns the server's last rate-limit demand; ok is false before
// any answer carried rate-limit headers.
func (s *Stats) Demand() (d Demand, ok bool) {
	p := s.demand.Load()
	if p == nil {
		return Demand{}, false
	}
	return *p, true
}

// Client talks to one Hiro-compatible server.
type Client struct {
	opts     Options
	base     *url.URL // without user info: the URL errors and logs show
	user     *url.Userinfo
	http     *http.Client
	log      *slog.Logger
	sem      chan struct{}
	second   *window // guarded by mu
	minute   *window // guarded by mu
	Stats    Stats
	mu       sync.Mutex
	pausedTo time.Time // no request starts before this (429, exhausted window)
	limits   struct{ second, minute float64 }
	warned   atomic.Bool // the deprecation warning was logged
	// answered: some request got an HTTP answer. Before that, a refused
	// connection or a failed DNS lookup means a wrong address or no
	// network; after it, a server restart, retried like any blip.
	answered atomic.Bool

	// versionLogged: the server's X-API-Version was logged (once per client,
	// so once per run).
	versionLogged atomic.Bool

	preMu sync.Mutex
	pre   map[string]*prefetched // by target URL (prefetch.go)
}

// Bounds on what the client believes of rate-limit headers. A server (or a
// proxy) that announces absurd limits must not stall a run for hours: the
// client keeps to at least these rates and waits at most these pauses, and
// a server that really enforces less answers 429, whose waits MaxWait
// bounds.
const (
	// MinBelievedPerMinute is the lowest per-minute limit taken from a
	// header; the real API's lowest tier is 50 a minute (no key).
	MinBelievedPerMinute = 10
	// MinBelievedPerSecond is the lowest per-second limit taken from a header.
	MinBelievedPerSecond = 1
	// MaxMinutePause is the longest pause for an exhausted minute window:
	// a minute window resets within a minute, whatever ratelimit-reset says.
	MaxMinutePause = 61 * time.Second
	// MaxRequestCost is the most tokens one answer's
	// x-ratelimit-cost-stacks may take from the budget.
	MaxRequestCost = 100
	// resetDeltaMax: a ratelimit-reset up to this many seconds is read as
	// seconds from now (some gateways send that); the real API sends a
	// Unix timestamp, which is far larger. Values in between are ignored.
	resetDeltaMax = 3600
	// resetUnixMin is the smallest ratelimit-reset read as a Unix
	// timestamp (2001-09-09).
	resetUnixMin = 1_000_000_000
	// maxHeaderWait caps a parsed Retry-After before it becomes a
	// time.Duration, which 10^12 seconds would overflow.
	maxHeaderWait = 365 * 24 * time.Hour
)

// New returns a client for opts.BaseURL. Every option is checked: the
// values come from the policy, which has the defaults.
func New(opts Options) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[:port]", policy.RedactURL(opts.BaseURL))
	}
	switch {
	case opts.Concurrency < 1:
		return nil, fmt.Errorf("concurrency %d: want at least 1", opts.Concurrency)
	case opts.Timeout <= 0:
		return nil, fmt.Errorf("timeout %s: want more than 0", opts.Timeout)
	case !(opts.RequestsPerMinute > 0):
		return nil, fmt.Errorf("requests per minute %v: want more than 0", opts.RequestsPerMinute)
	case !(opts.RequestsPerSecond > 0):
		return nil, fmt.Errorf("requests per second %v: want more than 0", opts.RequestsPerSecond)
	case opts.MaxRetries < 0:
		return nil, fmt.Errorf("max retries %d: want 0 or more", opts.MaxRetries)
	case opts.MaxWait <= 0:
		return nil, fmt.Errorf("max wait %s: want more than 0", opts.MaxWait)
	case opts.BackoffBase < 0:
		return nil, fmt.Errorf("backoff base %s: want 0 or more", opts.BackoffBase)
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = defaultBackoffBase
	}
	user := base.User
	base.User = nil
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient // a copy: its CheckRedirect is replaced below
	} else {
		hc.Transport = &http.Transport{
			MaxIdleConnsPerHost: opts.Concurrency * 2,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		opts: opts, base: base, user: user, http: &hc, log: log,
		sem:    make(chan struct{}, opts.Concurrency),
		second: newWindow(time.Second, opts.RequestsPerSecond),
		minute: newWindow(time.Minute, opts.RequestsPerMinute),
	}
	c.http.CheckRedirect = c.checkRedirect
	c.limits.second, c.limits.minute = opts.RequestsPerSecond, opts.RequestsPerMinute
	return c, nil
}

// RedirectError is a redirect the client refused to follow: to another
// origin (scheme, host and port) than the configured server, where the API
// key and credentials must never go, or one redirect too many.
type RedirectError struct {
	From, To string // redacted URLs
	Reason   string
}

// Error names both ends of the refused redirect and why it was refused.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("refused redirect from %s to %s: %s", e.From, e.To, e.Reason)
}

// checkRedirect follows redirects within the configured origin only (the
// API's own 301s, such as /extended/v1/status). Go re-sends custom headers
// such as x-api-key to any host a redirect names, so another origin is
// refused outright rather than trusted with the key.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	from := policy.RedactURL(via[len(via)-1].URL.String())
	to := policy.RedactURL(req.URL.String())
	if !sameOrigin(req.URL, c.base) {
		return &RedirectError{From: from, To: to, Reason: "another origin than " + policy.RedactURL(c.base.String()) +
			" (the API key is sent to the configured server only); point HIRO_API_URL at the server that answers"}
	}
	if len(via) >= 10 {
		return &RedirectError{From: from, To: to, Reason: "more than 10 redirects"}
	}
	return nil
}

// sameOrigin compares scheme, host and port, with the default ports made explicit.
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// RateLimitError means the server's rate limits kept one request waiting
// longer than Options.MaxWait (or demanded a wait longer than that): the
// run stops instead of stalling for hours.
type RateLimitError struct {
	URL     string        // redacted
	Waited  time.Duration // how long this request already waited
	MaxWait time.Duration
	Demand  string // what the server demanded, in words
}

// Error says what the server demanded, how long the request waited and
// which policy key bounds it.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("GET %s: the server's rate limits would keep this request waiting longer than source.max_wait %s (waited %s; the server demands %s); run again later or raise source.max_wait",
		e.URL, e.MaxWait, e.Waited.Round(time.Second), e.Demand)
}

// MaxBodyBytes caps a response body after decompression: a page of 50
// transactions is well under 5 MB, and a gzip bomb must not take the
// memory of the process. A larger body is a bad response.
const MaxBodyBytes = 8 << 20

// ErrBodyTooLarge is a response body beyond MaxBodyBytes once decompressed.
// It wraps ErrMalformed: the answer is retried like a truncated one, within
// MaxRetries, and never ingested.
var ErrBodyTooLarge = fmt.Errorf("%w: body larger than %d bytes after decompression", ErrMalformed, MaxBodyBytes)

// Get requests path?query and returns the body once decode accepts it.
// decode runs inside the retry loop: a body it rejects with ErrMalformed is
// requested again, so a truncated page is never returned.
func (c *Client) Get(ctx context.Context, path string, query url.Values, decode func([]byte) error) ([]byte, error) {
	target := c.target(path, query)
	if p := c.takePrefetched(target); p != nil {
		if body, ok, err := c.fromPrefetch(ctx, p, decode); ok {
			return body, err
		}
	}
	return c.get(ctx, target, decode)
}

// get is Get without the prefetched answers.
func (c *Client) get(ctx context.Context, target string, decode func([]byte) error) ([]byte, error) {
	shown := policy.RedactURL(target)
	start := time.Now()

	var lastErr error
	failures, throttles, unreached := 0, 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		body, retryAfter, err := c.attempt(ctx, target, shown, start)
		if err == nil && decode != nil {
			if derr := decode(body); derr != nil {
				if !errors.Is(derr, ErrMalformed) {
					return nil, derr
				}
				c.Stats.Malformed.Add(1)
				err = derr
			}
		}
		if err == nil {
			return body, nil
		}
		var se *StatusError
		var re *RedirectError
		var rl *RateLimitError
		switch {
		case errors.Is(err, ErrGone), errors.Is(err, ErrQuotaExhausted), errors.As(err, &se), errors.As(err, &re), errors.As(err, &rl):
			return nil, err
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errThrottled):
			// A 429 is pacing, not failure: it does not use up retries, but
			// MaxWait bounds the time it may cost, and the pause grows with
			// every 429 in a row so that a server answering nothing else
			// (Retry-After 0 or none) reaches that bound instead of being
			// asked forever.
			throttles++
			pause := max(retryAfter, c.backoff(throttles))
			waited := time.Since(start)
			if waited+pause > c.opts.MaxWait {
				return nil, &RateLimitError{URL: shown, Waited: waited, MaxWait: c.opts.MaxWait,
					Demand: fmt.Sprintf("a pause of %s after %d answers of 429 Too Many Requests in a row", retryAfter.Round(time.Millisecond), throttles)}
			}
			c.recordPause(pause)
			c.log.Info("server throttles (429); pausing all requests", "url", shown, "retry_after", retryAfter, "pause", pause, "in_a_row", throttles)
			c.pause(pause)
		default:
			failures++
			lastErr = err
			if reason, ok := netfail.Reason(err); ok && !c.answered.Load() {
				unreached++
				if unreached > unreachableRetries || failures > c.opts.MaxRetries || time.Since(start) > unreachableBudget {
					return nil, &UnreachableError{Addr: policy.RedactURL(c.base.String()), Reason: reason, Attempts: failures, Err: err}
				}
			}
			if failures > c.opts.MaxRetries {
				return nil, &RetriesError{Attempts: failures, Err: lastErr}
			}
			delay := c.backoff(failures)
			c.log.Debug("retrying", "url", shown, "attempt", failures, "delay", delay, "err", err)
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			c.Stats.Retries.Add(1)
		}
	}
}

// target is the URL of path?query on the server, without user info.
func (c *Client) target(path string, query url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	return u.String()
}

var errThrottled = errors.New("429 too many requests")

// defaultRetryAfter is the pause for a 429 without a readable Retry-After,
// the convention of gateways that omit it.
const defaultRetryAfter = 60 * time.Second

// attempt sends one request after the budget allows it. target carries no
// user info (that goes in the Authorization header); shown is the redacted
// form used in errors and logs.
func (c *Client) attempt(ctx context.Context, target, shown string, start time.Time) (body []byte, retryAfter time.Duration, err error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-c.sem }()
	tk, err := c.waitBudget(ctx, shown, start)
	if err != nil {
		return nil, 0, err
	}

	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", shown, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "walletcache/1")
	if c.opts.APIKey != "" {
		req.Header.Set("x-api-key", c.opts.APIKey)
	}
	if c.user != nil {
		pw, _ := c.user.Password()
		req.SetBasicAuth(c.user.Username(), pw)
	}
	c.Stats.Requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		var re *RedirectError
		switch {
		case ctx.Err() != nil:
			return nil, 0, ctx.Err()
		case errors.As(err, &re):
			return nil, 0, re
		}
		c.Stats.Timeouts.Add(1)
		// A *url.Error repeats the method and URL this message names.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("GET %s: %w", shown, err)
	}
	defer resp.Body.Close()
	c.answered.Store(true)
	// The transport has already inflated a gzip body: the cap counts
	// decoded bytes, so a small bomb cannot grow past it.
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	c.Stats.Bytes.Add(int64(len(body)))
	retryAfter, quotaErr := c.observe(resp.Header, tk)

	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		c.Stats.Throttled.Add(1)
		if quotaErr != nil {
			return nil, 0, quotaErr
		}
		if retryAfter < 0 {
			retryAfter = defaultRetryAfter
		}
		return nil, retryAfter, errThrottled
	case resp.StatusCode == http.StatusGone:
		return nil, 0, fmt.Errorf("GET %s: %w", shown, ErrGone)
	case resp.StatusCode >= 500:
		c.Stats.ServerErrors.Add(1)
		return nil, 0, fmt.Errorf("GET %s: HTTP %d", shown, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, 0, &StatusError{URL: shown, Status: resp.StatusCode, Body: snippet(body), KeySent: c.opts.APIKey != ""}
	}
	if len(body) > MaxBodyBytes {
		c.Stats.Malformed.Add(1)
		return nil, 0, fmt.Errorf("GET %s: %w", shown, ErrBodyTooLarge)
	}
	if readErr != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		c.Stats.Malformed.Add(1)
		return nil, 0, fmt.Errorf("GET %s: body cut off after %d bytes: %w", shown, len(body), readErr)
	}
	if quotaErr != nil {
		// This answer is good; the next one would be refused.
		c.log.Warn("monthly quota reached zero", "url", shown)
	}
	return body, 0, nil
}

// waitBudget blocks until both rate windows and any pause allow a request,
// and returns where the request is counted. A pause that would keep the
// request (begun at start) waiting beyond MaxWait ends it with a
// *RateLimitError instead.
func (c *Client) waitBudget(ctx context.Context, shown string, start time.Time) (ticket, error) {
	for {
		c.mu.Lock()
		until := c.pausedTo
		c.mu.Unlock()
		if d := time.Until(until); d > 0 {
			if waited := time.Since(start); waited+d > c.opts.MaxWait {
				return ticket{}, &RateLimitError{URL: shown, Waited: waited, MaxWait: c.opts.MaxWait,
					Demand: fmt.Sprintf("that no request starts for another %s", d.Round(time.Second))}
			}
			if err := sleep(ctx, d); err != nil {
				return ticket{}, err
			}
			continue
		}
		at, tk := c.reserve(time.Now())
		if d := time.Until(at); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return ticket{}, err
			}
		}
		// A wake-up the scheduler delayed into the next window would be
		// counted there, on top of that window's own requests: reserve
		// again rather than send. So does a pause set meanwhile.
		now := time.Now()
		c.mu.Lock()
		late := c.second.indexOf(now) != tk.second || c.minute.indexOf(now) != tk.minute
		c.mu.Unlock()
		if late || now.Before(c.pausedUntil()) {
			continue
		}
		return tk, nil
	}
}

// ticket is the windows a request is counted in and how many requests
// each held with it, to read the server's rate-limit headers against.
type ticket struct {
	second, minute         int64
	secondUsed, minuteUsed int
}

// reserve books the earliest send time at or after now that both windows
// allow.
func (c *Client) reserve(now time.Time) (time.Time, ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now
	// Each window's earliest time is monotone, so a few rounds agree.
	for range 100 {
		t2 := c.minute.earliest(c.second.earliest(t))
		if t2.Equal(t) {
			break
		}
		t = t2
	}
	var tk ticket
	tk.second, tk.secondUsed = c.second.take(t)
	tk.minute, tk.minuteUsed = c.minute.take(t)
	return t, tk
}

// pausedUntil is the end of the pause in force.
func (c *Client) pausedUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pausedTo
}

// pause stops every request from starting for d: when one request is told
// to back off, the others would be refused too.
func (c *Client) pause(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := time.Now().Add(d); t.After(c.pausedTo) {
		c.pausedTo = t
	}
}

// recordPause counts a pause the server's limits caused.
func (c *Client) recordPause(d time.Duration) { c.Stats.Waited.Add(int64(d)) }

// observe reads the rate-limit headers of any answer to the request tk
// stands for: it lowers the budget to a smaller announced limit (within
// the bounds above), aligns the minute windows to ratelimit-reset, lowers
// what is left of each window to what the server says remains, spends the
// answer's cost, pauses when the minute window is used up, records what
// the server demanded, and reports Retry-After and an exhausted monthly
// quota. No header raises the budget above the policy's.
func (c *Client) observe(h http.Header, tk ticket) (retryAfter time.Duration, quota error) {
	retryAfter = -1 // absent
	if v := h.Get("X-API-Version"); v != "" && c.versionLogged.CompareAndSwap(false, true) {
		c.log.Info("server API version", "x_api_version", v)
	}
	if w := h.Get("Warning"); w != "" && strings.HasPrefix(w, "299") && c.warned.CompareAndSwap(false, true) {
		c.log.Warn("server marks this endpoint deprecated", "warning", w, "api_version", h.Get("X-API-Version"))
	}
	if d, ok := parseRetryAfter(h.Get("Retry-After")); ok {
		retryAfter = d
	}
	now := time.Now()
	reset, resetOK := parseReset(h.Get("Ratelimit-Reset"), now)
	d := Demand{At: now, RemainingMinute: -1, RetryAfter: retryAfter}
	seen := retryAfter >= 0

	// The per-minute headers, or the generic ratelimit-* ones of the same
	// window when a gateway sends only those.
	minuteLimit, minuteLimitOK := headerFloatOf(h, "X-Ratelimit-Limit-Stacks-Minute", "Ratelimit-Limit")
	minuteRem, minuteRemOK := headerFloatOf(h, "X-Ratelimit-Remaining-Stacks-Minute", "Ratelimit-Remaining")
	secondLimit, secondLimitOK := headerFloat(h, "X-Ratelimit-Limit-Stacks-Second")
	secondRem, secondRemOK := headerFloat(h, "X-Ratelimit-Remaining-Stacks-Second")

	// A request that costs N counts N: the first was charged when it was
	// sent, the rest is charged now and may be debt the next windows carry.
	cost := int64(1)
	if v, ok := headerFloat(h, "X-Ratelimit-Cost-Stacks"); ok && !math.IsNaN(v) {
		d.Cost, seen = int64(min(max(v, 0), MaxRequestCost)), true
		cost = max(d.Cost, 1)
	}
	c.Stats.Cost.Add(cost)

	c.mu.Lock()
	if secondLimitOK {
		d.PerSecond, seen = secondLimit, true
		c.lowerLimit("per_second", secondLimit, MinBelievedPerSecond, &c.limits.second, c.second)
	}
	if minuteLimitOK {
		d.PerMinute, seen = minuteLimit, true
		c.lowerLimit("per_minute", minuteLimit, MinBelievedPerMinute, &c.limits.minute, c.minute)
	}
	d.BelievedPerSecond, d.BelievedPerMinute = c.limits.second, c.limits.minute
	if end, ok := resetEnd(h.Get("Ratelimit-Reset"), now); ok {
		c.minute.setPhase(end)
	}
	if rem, ok := believedRemaining(secondRem, secondRemOK, secondLimit, secondLimitOK); ok {
		c.second.heard(tk.second, tk.secondUsed, rem)
	}
	if rem, ok := believedRemaining(minuteRem, minuteRemOK, minuteLimit, minuteLimitOK); ok {
		c.minute.heard(tk.minute, tk.minuteUsed, rem)
	}
	c.second.charge(int(cost - 1))
	c.minute.charge(int(cost - 1))
	c.mu.Unlock()

	// An exhausted minute window pauses everyone until it resets, at most
	// a minute, whatever the windows above believe: a server whose
	// windows the client has not understood still gets its pause.
	if minuteRemOK {
		d.RemainingMinute, seen = minuteRem, true
		if minuteRem <= 0 {
			p := reset
			if !resetOK || p <= 0 {
				p = time.Until(now.Truncate(time.Minute).Add(time.Minute))
			}
			if p > MaxMinutePause {
				c.log.Warn("server says the minute window resets more than a minute from now; pausing a minute at most",
					"ratelimit_reset", h.Get("Ratelimit-Reset"), "pause", MaxMinutePause)
				p = MaxMinutePause
			}
			c.recordPause(p)
			c.pause(p)
		}
	}
	if rem, ok := headerFloat(h, "X-Ratelimit-Remaining-Stacks-Month"); ok && rem <= 0 {
		quota = ErrQuotaExhausted
	}
	if retryAfter >= 0 {
		d.BelievedRetryAfter = min(retryAfter, c.opts.MaxWait)
	}
	if seen {
		c.Stats.demand.Store(&d)
	}
	return retryAfter, quota
}

// believedRemaining checks a remaining-requests header against the limit
// sent with it: NaN, or more left than the limit allows, cannot be true and
// is ignored; a negative count is read as nothing left.
func believedRemaining(rem float64, ok bool, limit float64, limitOK bool) (float64, bool) {
	switch {
	case !ok || math.IsNaN(rem):
		return 0, false
	case limitOK && !math.IsNaN(limit) && limit > 0 && rem > limit:
		return 0, false
	}
	return max(rem, 0), true
}

// lowerLimit adopts an announced limit lower than the one in force, but
// never below floor: a server announcing 0.001 a minute would stall the
// run for days. Callers hold c.mu.
func (c *Client) lowerLimit(name string, announced, floor float64, current *float64, w *window) {
	if math.IsNaN(announced) || announced <= 0 || announced >= *current {
		return
	}
	believed := max(announced, floor)
	if believed >= *current {
		return
	}
	*current = believed
	w.setLimit(believed)
	if believed > announced {
		c.log.Warn("server announces a limit below what this client believes; keeping to the floor", name, announced, "believed", believed)
		return
	}
	c.log.Info("server's limit is lower than the policy; using it", name, announced)
}

// headerFloatOf is the first of keys the header carries as a number.
func headerFloatOf(h http.Header, keys ...string) (float64, bool) {
	for _, k := range keys {
		if h.Get(k) != "" {
			return headerFloat(h, k)
		}
	}
	return 0, false
}

func headerFloat(h http.Header, key string) (float64, bool) {
	v := strings.TrimSpace(h.Get(key))
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// parseRetryAfter accepts delay-seconds or an HTTP date; ok is false when
// the header is absent or unreadable. A delay is capped at maxHeaderWait
// before it becomes a Duration (10^12 s would overflow one).
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && !math.IsInf(s, 0) {
		return time.Duration(min(s, maxHeaderWait.Seconds()) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxHeaderWait), true
	}
	return 0, false
}

// parseReset reads ratelimit-reset. The real API sends a Unix timestamp;
// a small value (up to resetDeltaMax) is read as seconds from now, the
// form some gateways send. Anything else is not believed (ok false).
func parseReset(v string, now time.Time) (time.Duration, bool) {
	s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil || s <= 0:
		return 0, false
	case s >= resetUnixMin:
		return min(max(time.Unix(s, 0).Sub(now), 0), maxHeaderWait), true
	case s <= resetDeltaMax:
		return time.Duration(s) * time.Second, true
	}
	return 0, false
}

// resetEnd is the end of the minute window a Unix-timestamp
// ratelimit-reset names, when it is within a minute of now (either way,
// as clocks differ); the relative form is too coarse to align windows to.
func resetEnd(v string, now time.Time) (time.Time, bool) {
	s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || s < resetUnixMin {
		return time.Time{}, false
	}
	end := time.Unix(s, 0)
	if end.Before(now.Add(-time.Minute)) || end.After(now.Add(MaxMinutePause)) {
		return time.Time{}, false
	}
	return end, true
}

// backoff is exponential with equal jitter: the delay d (BackoffBase
// doubled per failure, capped at 30 s) is d/2 plus a random part of up to
// d/2, so retries never come sooner than half the nominal delay.
func (c *Client) backoff(failures int) time.Duration {
	d := c.opts.BackoffBase << min(failures-1, 10)
	if d > 30*time.Second {
		d = 30 * time.Second
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
