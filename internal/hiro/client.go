// Package hiro is the client of the Hiro Stacks Blockchain API: it pages
// closed time windows of /extended/v1/tx (v1.go) and the keyset cursor of
// /extended/v3/transactions (v3.go), reads the chain tip, looks up blocks by
// time, decodes every body strictly (decode.go), and spends the rate budget
// carefully: client-side token buckets for the minute and second limits,
// pacing from the x-ratelimit-* headers, Retry-After on 429, and exponential
// backoff with equal jitter on server errors, timeouts and truncated bodies.
package hiro

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
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
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.Status, e.Body)
}

// Options configure a Client; zero values take the documented defaults.
type Options struct {
	BaseURL           string        // e.g. https://api.hiro.so
	APIKey            string        // sent as x-api-key; never logged
	RequestsPerMinute float64       // client-side budget; lower limits from headers win
	RequestsPerSecond float64       // secondary limit
	Concurrency       int           // requests in flight
	Timeout           time.Duration // per attempt
	MaxRetries        int           // for 5xx, timeouts and malformed bodies
	HTTPClient        *http.Client
	Logger            *slog.Logger
	// BackoffBase is the first retry delay (doubled per attempt, capped at
	// 30 s, with equal jitter: half fixed, half random). Tests shorten it.
	BackoffBase time.Duration
}

// Stats counts what the client did; safe to read while it runs.
type Stats struct {
	Requests     atomic.Int64 // every HTTP request sent
	Retries      atomic.Int64 // requests sent again after a failure
	Throttled    atomic.Int64 // 429 answers
	ServerErrors atomic.Int64 // 5xx answers
	Malformed    atomic.Int64 // truncated or undecodable bodies
	Timeouts     atomic.Int64 // attempts that hit the timeout or a network error
	Bytes        atomic.Int64 // response bytes read
}

// Client talks to one Hiro-compatible server.
type Client struct {
	opts     Options
	base     *url.URL
	http     *http.Client
	log      *slog.Logger
	sem      chan struct{}
	second   *rate.Limiter
	minute   *rate.Limiter
	Stats    Stats
	mu       sync.Mutex
	pausedTo time.Time // no request starts before this (429, exhausted window)
	limits   struct{ second, minute float64 }
	version  atomic.Value // server's X-API-Version
	warned   atomic.Bool  // the deprecation warning was logged

	// versionLogged: the server's X-API-Version was logged (once per client,
	// so once per run).
	versionLogged atomic.Bool
}

// safetyMargin keeps the client a hair under a server's limit: actual send
// times jitter by scheduling delays, and a fixed-window server counts them.
const safetyMargin = 0.98

// New returns a client for opts.BaseURL.
func New(opts Options) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[:port]", opts.BaseURL)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.RequestsPerMinute <= 0 {
		opts.RequestsPerMinute = 50
	}
	if opts.RequestsPerSecond <= 0 {
		opts.RequestsPerSecond = 20
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 500 * time.Millisecond
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: opts.Concurrency * 2,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		opts: opts, base: base, http: hc, log: log,
		sem:    make(chan struct{}, opts.Concurrency),
		second: rate.NewLimiter(rate.Limit(opts.RequestsPerSecond*safetyMargin), 1),
		minute: rate.NewLimiter(rate.Limit(opts.RequestsPerMinute*safetyMargin/60), 1),
	}
	c.limits.second, c.limits.minute = opts.RequestsPerSecond, opts.RequestsPerMinute
	return c, nil
}

// BaseURL is the server this client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// ServerVersion is the X-API-Version the server last reported, or "".
func (c *Client) ServerVersion() string {
	v, _ := c.version.Load().(string)
	return v
}

// Limits returns the per-second and per-minute budgets in force: the policy's,
// lowered by any smaller limit the server announced.
func (c *Client) Limits() (perSecond, perMinute float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits.second, c.limits.minute
}

// Get requests path?query and returns the body once decode accepts it.
// decode runs inside the retry loop: a body it rejects with ErrMalformed is
// requested again, so a truncated page is never returned.
func (c *Client) Get(ctx context.Context, path string, query url.Values, decode func([]byte) error) ([]byte, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	target := u.String()

	var lastErr error
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		body, retryAfter, err := c.attempt(ctx, target)
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
		switch {
		case errors.Is(err, ErrGone), errors.Is(err, ErrQuotaExhausted), errors.As(err, &se):
			return nil, err
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errThrottled):
			// A 429 is pacing, not failure: it does not use up retries.
			c.pause(retryAfter)
		default:
			failures++
			lastErr = err
			if failures > c.opts.MaxRetries {
				return nil, fmt.Errorf("GET %s: gave up after %d attempts: %w", redactURL(target), failures, lastErr)
			}
			delay := c.backoff(failures)
			c.log.Debug("retrying", "url", redactURL(target), "attempt", failures, "delay", delay, "err", err)
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
		}
		c.Stats.Retries.Add(1)
	}
}

var errThrottled = errors.New("429 too many requests")

// attempt sends one request after the budget allows it.
func (c *Client) attempt(ctx context.Context, target string) (body []byte, retryAfter time.Duration, err error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-c.sem }()
	if err := c.waitBudget(ctx); err != nil {
		return nil, 0, err
	}

	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "walletcache/1")
	if c.opts.APIKey != "" {
		req.Header.Set("x-api-key", c.opts.APIKey)
	}
	c.Stats.Requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		c.Stats.Timeouts.Add(1)
		return nil, 0, fmt.Errorf("GET %s: %w", redactURL(target), err)
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(resp.Body)
	c.Stats.Bytes.Add(int64(len(body)))
	retryAfter, quotaErr := c.observe(resp.Header)

	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		c.Stats.Throttled.Add(1)
		if quotaErr != nil {
			return nil, 0, quotaErr
		}
		if retryAfter < 0 {
			retryAfter = 60 * time.Second // the convention when a gateway omits it
		}
		return nil, retryAfter, errThrottled
	case resp.StatusCode == http.StatusGone:
		return nil, 0, fmt.Errorf("GET %s: %w", redactURL(target), ErrGone)
	case resp.StatusCode >= 500:
		c.Stats.ServerErrors.Add(1)
		return nil, 0, fmt.Errorf("GET %s: HTTP %d", redactURL(target), resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, 0, &StatusError{URL: redactURL(target), Status: resp.StatusCode, Body: snippet(body)}
	}
	if readErr != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		c.Stats.Malformed.Add(1)
		return nil, 0, fmt.Errorf("GET %s: body cut off after %d bytes: %w", redactURL(target), len(body), readErr)
	}
	if quotaErr != nil {
		// This answer is good; the next one would be refused.
		c.log.Warn("monthly quota reached zero", "url", redactURL(target))
	}
	return body, 0, nil
}

// waitBudget blocks until both token buckets and any pause allow a request.
func (c *Client) waitBudget(ctx context.Context) error {
	for {
		c.mu.Lock()
		until := c.pausedTo
		c.mu.Unlock()
		if d := time.Until(until); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if err := c.minute.Wait(ctx); err != nil {
			return err
		}
		if err := c.second.Wait(ctx); err != nil {
			return err
		}
		return nil
	}
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

// observe reads the rate-limit headers of any answer: it lowers the budget
// to a smaller announced limit, pauses when a window is used up, and reports
// Retry-After and an exhausted monthly quota.
func (c *Client) observe(h http.Header) (retryAfter time.Duration, quota error) {
	retryAfter = -1 // absent
	if v := h.Get("X-API-Version"); v != "" {
		c.version.Store(v)
		if c.versionLogged.CompareAndSwap(false, true) {
			c.log.Info("server API version", "x_api_version", v)
		}
	}
	if w := h.Get("Warning"); w != "" && strings.HasPrefix(w, "299") && c.warned.CompareAndSwap(false, true) {
		c.log.Warn("server marks this endpoint deprecated", "warning", w, "api_version", h.Get("X-API-Version"))
	}
	if d, ok := parseRetryAfter(h.Get("Retry-After")); ok {
		retryAfter = d
	}
	reset := parseReset(h.Get("Ratelimit-Reset"))

	c.mu.Lock()
	if lim, ok := headerFloat(h, "X-Ratelimit-Limit-Stacks-Second"); ok && lim > 0 && lim < c.limits.second {
		c.limits.second = lim
		c.second.SetLimit(rate.Limit(lim * safetyMargin))
		c.log.Info("server's per-second limit is lower than the policy; using it", "per_second", lim)
	}
	if lim, ok := headerFloat(h, "X-Ratelimit-Limit-Stacks-Minute"); ok && lim > 0 && lim < c.limits.minute {
		c.limits.minute = lim
		c.minute.SetLimit(rate.Limit(lim * safetyMargin / 60))
		c.log.Info("server's per-minute limit is lower than the policy; using it", "per_minute", lim)
	}
	c.mu.Unlock()

	// An exhausted minute window pauses everyone until it resets. The
	// second window is left to the token bucket, which already runs at the
	// announced per-second limit: by the time a response says a one-second
	// window is used up, that window has often passed.
	if rem, ok := headerFloat(h, "X-Ratelimit-Remaining-Stacks-Minute"); ok && rem <= 0 {
		d := reset
		if d <= 0 {
			d = time.Until(time.Now().Truncate(time.Minute).Add(time.Minute))
		}
		c.pause(d)
	}
	if rem, ok := headerFloat(h, "X-Ratelimit-Remaining-Stacks-Month"); ok && rem <= 0 {
		quota = ErrQuotaExhausted
	}
	return retryAfter, quota
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
// the header is absent or unreadable.
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// parseReset reads ratelimit-reset, which gateways send either as seconds
// from now or as a unix timestamp.
func parseReset(v string) time.Duration {
	s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || s <= 0 {
		return 0
	}
	if s > 1_000_000_000 {
		return time.Until(time.Unix(s, 0))
	}
	return time.Duration(s) * time.Second
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

// redactURL drops anything secret-looking from a URL before it is logged.
// The key travels in a header, so URLs carry none; this is a second fence.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "key") {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
