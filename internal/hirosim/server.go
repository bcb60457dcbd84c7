package hirosim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler returns the simulator's HTTP handler (Hiro routes, CoinGecko
// routes, faults and rate limits included), for callers that run their own
// server or httptest.Server. The TruncateWithLength fault aborts the
// response with panic(http.ErrAbortHandler), which net/http servers turn
// into a dropped connection; call the handler directly only without it.
func (s *Sim) Handler() http.Handler { return s.handler }

// Serve runs a simulator for cfg with faults on addr (e.g. "127.0.0.1:3999")
// until ctx is done. logf (may be nil) receives a start-up line with the
// URL and the chain tip.
func Serve(ctx context.Context, addr string, cfg Config, faults Faults, logf func(string, ...any)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("hirosim: listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, cfg, faults, logf)
}

// ServeListener is Serve on a listener the caller opened (and that it
// closes), so that a caller can report a busy or bad address before it
// says anything else.
func ServeListener(ctx context.Context, ln net.Listener, cfg Config, faults Faults, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	addr := ln.Addr().String()
	s := New(cfg)
	s.SetFaults(faults)
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.lifeMu.Lock()
	s.srv = srv
	s.lifeMu.Unlock()
	logf("hirosim: serving http://%s: %s", ln.Addr(), describe(s.Tip()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		s.Close()
		<-errc
		return nil
	case err := <-errc:
		s.Close()
		return fmt.Errorf("hirosim: serve %s: %w", addr, err)
	}
}

func newStats() Stats {
	return Stats{ByRoute: map[string]int64{}, Requested: map[string]int64{}, Served: map[string]int64{}}
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	st := s.stats
	st.ByRoute = copyMap(s.stats.ByRoute)
	st.Requested = copyMap(s.stats.Requested)
	st.Served = copyMap(s.stats.Served)
	return st
}

// ResetStats zeroes the counters (the chain and faults are kept).
func (s *Sim) ResetStats() {
	s.fmu.Lock()
	s.stats = newStats()
	s.fmu.Unlock()
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Sim) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /extended", s.handleStatus)
	mux.HandleFunc("GET /extended/v1/status", s.handleStatus)
	mux.HandleFunc("GET /extended/v1/tx", s.handleV1Tx)
	mux.HandleFunc("GET /extended/v3/transactions", s.handleV3Transactions)
	mux.HandleFunc("GET /extended/v2/blocks", s.handleBlocks)
	mux.HandleFunc("GET /extended/v2/blocks/{id}", s.handleBlock)
	// One pattern for both, since Go's mux cannot tell
	// by-block-time/{t} from {id}/transactions.
	mux.HandleFunc("GET /extended/v2/blocks/{a}/{b}", s.handleBlockSub)
	mux.HandleFunc("GET /extended/v2/burn-blocks", s.handleBurnBlocks)
	mux.HandleFunc("GET /extended/v2/burn-blocks/{id}", s.handleBurnBlock)
	mux.HandleFunc("GET /extended/v2/burn-blocks/{id}/blocks", s.handleBurnBlockBlocks)
	mux.HandleFunc("GET /api/v3/coins/blockstack/market_chart", s.handleMarketChart)
	mux.HandleFunc("GET /api/v3/coins/blockstack/market_chart/range", s.handleMarketChartRange)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFoundRoute(w, r) })
	return mux
}

// notFoundRoute answers like the API's framework (Fastify) for an unknown route.
func notFoundRoute(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]any{
		"message":    fmt.Sprintf("Route %s:%s not found", r.Method, r.URL.RequestURI()),
		"error":      "Not Found",
		"statusCode": 404,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // like the real API: chain text is sent as is
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"encode"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

const deprecationWarning = `299 - "Deprecated: use GET /extended/v3/transactions instead"`

// recorder buffers a handler's response so faults can cut it off.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// rateWindow holds fixed-window counters for one client (API key or none).
type rateWindow struct {
	minute, second           int64
	minuteCount, secondCount int
}

// Nominal limits reported when a limit is off.
const (
	nominalPerMinute = 1_000_000
	nominalPerSecond = 100_000
	nominalMonth     = 100_000_000
)

// decision is what the fault layer decided for one request.
type decision struct {
	delay      time.Duration
	status     int // non-zero: answer this instead of routing
	retryAfter int
	truncate   bool
	truncMode  TruncateMode
	headers    [][2]string
}

// admit runs the rate limits and random faults for one request. Callers
// hold s.fmu.
func (s *Sim) admit(f Faults, now time.Time, apiKey string, limited, faulty bool) decision {
	var d decision
	if faulty {
		d.delay = f.Latency
		if f.LatencyJitter > 0 {
			d.delay += time.Duration(s.frng.Int64N(int64(f.LatencyJitter) + 1))
		}
		if f.RateSlow > 0 && s.frng.Float64() < f.RateSlow {
			slow := f.SlowDelay
			if slow <= 0 {
				slow = 35 * time.Second
			}
			d.delay += slow
			s.stats.Slow++
		}
	}
	if limited {
		s.rateLimit(&d, f, now, apiKey)
	}
	if d.status == 0 && faulty {
		switch {
		case f.Rate429 > 0 && s.frng.Float64() < f.Rate429:
			d.status = http.StatusTooManyRequests
			d.retryAfter = max(1, int((f.RetryAfter+time.Second-1)/time.Second))
		case f.Rate5xx > 0 && s.frng.Float64() < f.Rate5xx:
			d.status = []int{500, 502, 503, 504}[s.frng.IntN(4)]
		}
	}
	switch {
	case d.status == http.StatusTooManyRequests:
		s.stats.Status429++
		d.headers = append(d.headers, [2]string{"Retry-After", strconv.Itoa(d.retryAfter)})
	case d.status >= 500:
		s.stats.Status5xx++
	}
	if faulty && f.RateTruncate > 0 && s.frng.Float64() < f.RateTruncate {
		d.truncate = true
		d.truncMode = f.TruncateMode
		if d.truncMode == TruncateMixed {
			s.truncFlip = !s.truncFlip
			d.truncMode = TruncateChunked
			if s.truncFlip {
				d.truncMode = TruncateWithLength
			}
		}
	}
	return d
}

// rateLimit applies the monthly quota and the fixed-window minute and
// second limits, and sets the rate-limit headers. Callers hold s.fmu.
func (s *Sim) rateLimit(d *decision, f Faults, now time.Time, apiKey string) {
	unix := now.Unix()
	minuteLimit, minuteOn := f.PerMinute, f.PerMinute > 0
	if apiKey != "" {
		minuteLimit, minuteOn = f.PerMinuteKeyed, f.PerMinuteKeyed > 0
	}
	if !minuteOn {
		minuteLimit = nominalPerMinute
	}
	secondLimit, secondOn := f.PerSecond, f.PerSecond > 0
	if !secondOn {
		secondLimit = nominalPerSecond
	}
	monthLimit := f.MonthLimit
	if monthLimit <= 0 {
		monthLimit = nominalMonth
	}

	w := s.windows[apiKey]
	if w == nil {
		w = &rateWindow{}
		s.windows[apiKey] = w
	}
	if m := floorDiv(unix, 60); w.minute != m {
		w.minute, w.minuteCount = m, 0
	}
	if w.second != unix {
		w.second, w.secondCount = unix, 0
	}
	// reset is the seconds left in the minute window; the header carries
	// the Unix time it ends, as the real API's ratelimit-reset does.
	reset := 60 - int(unix-floorDiv(unix, 60)*60)

	switch {
	case f.MonthLimit > 0 && s.monthUsed >= f.MonthLimit:
		d.status = http.StatusTooManyRequests
		next := time.Date(now.UTC().Year(), now.UTC().Month()+1, 1, 0, 0, 0, 0, time.UTC)
		d.retryAfter = max(1, int(next.Sub(now)/time.Second))
	case minuteOn && w.minuteCount >= minuteLimit:
		d.status = http.StatusTooManyRequests
		d.retryAfter = reset
	case secondOn && w.secondCount >= secondLimit:
		d.status = http.StatusTooManyRequests
		d.retryAfter = 1
	default:
		w.minuteCount++
		w.secondCount++
		s.monthUsed++
	}
	monthRemaining := max(0, monthLimit-s.monthUsed)
	minuteRemaining := max(0, minuteLimit-w.minuteCount)
	itoa := strconv.Itoa
	d.headers = append(d.headers,
		[2]string{"X-Ratelimit-Limit-Stacks-Minute", itoa(minuteLimit)},
		[2]string{"X-Ratelimit-Remaining-Stacks-Minute", itoa(minuteRemaining)},
		[2]string{"X-Ratelimit-Limit-Stacks-Second", itoa(secondLimit)},
		[2]string{"X-Ratelimit-Remaining-Stacks-Second", itoa(max(0, secondLimit-w.secondCount))},
		[2]string{"X-Ratelimit-Limit-Stacks-Month", strconv.FormatInt(monthLimit, 10)},
		[2]string{"X-Ratelimit-Remaining-Stacks-Month", strconv.FormatInt(monthRemaining, 10)},
		[2]string{"Ratelimit-Limit", itoa(minuteLimit)},
		[2]string{"Ratelimit-Remaining", itoa(minuteRemaining)},
		[2]string{"Ratelimit-Reset", strconv.FormatInt(unix+int64(reset), 10)},
		[2]string{"X-Ratelimit-Cost-Stacks", "1"},
	)
}

// serve is the whole server: stats, faults, rate limits, then routing.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	route := strings.TrimPrefix(pattern, "GET ")
	if pattern == "/" {
		route = "(unknown)"
	}
	path := r.URL.Path
	isPrice := strings.HasPrefix(path, "/api/v3/")
	key := path
	if q := r.URL.Query().Encode(); q != "" {
		key += "?" + q
	}
	apiKey := r.Header.Get("X-Api-Key")

	s.fmu.Lock()
	f := s.faults
	s.stats.Requests++
	s.stats.ByRoute[route]++
	s.stats.Requested[key]++
	if apiKey != "" {
		s.stats.SawAPIKey = true
		s.stats.LastAPIKey = apiKey
	}
	d := s.admit(f, s.cfg.Clock(), apiKey, !isPrice, !isPrice || f.PriceFaults)
	s.fmu.Unlock()

	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}

	h := w.Header()
	if !isPrice {
		h.Set("X-API-Version", s.cfg.ServerVersion)
		h.Set("Cache-Control", "no-store")
	}
	for _, kv := range d.headers {
		h.Set(kv[0], kv[1])
	}
	isV1Tx := path == "/extended/v1/tx" || strings.HasPrefix(path, "/extended/v1/tx/")
	if isV1Tx {
		h.Set("Warning", deprecationWarning)
	}

	switch {
	case d.status == http.StatusTooManyRequests:
		writeJSON(w, d.status, map[string]string{
			"error":   "Too Many Requests",
			"message": fmt.Sprintf("API rate limit exceeded, retry after %d seconds", d.retryAfter),
		})
		return
	case d.status == http.StatusBadGateway || d.status == http.StatusGatewayTimeout:
		// gateway errors come from the proxy in front of the API, as HTML
		h.Set("Content-Type", "text/html")
		w.WriteHeader(d.status)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center></body></html>\n",
			d.status, http.StatusText(d.status), d.status, http.StatusText(d.status))
		return
	case d.status == http.StatusServiceUnavailable:
		writeError(w, d.status, "The database service is unavailable")
		return
	case d.status != 0:
		writeJSON(w, d.status, map[string]any{"statusCode": d.status, "error": http.StatusText(d.status), "message": "An internal server error occurred"})
		return
	case f.V3Absent && strings.HasPrefix(path, "/extended/v3/"):
		notFoundRoute(w, r)
		return
	case f.V1Gone && path == "/extended/v1/tx":
		s.fmu.Lock()
		s.stats.Gone410++
		s.fmu.Unlock()
		writeJSON(w, http.StatusGone, map[string]string{
			"error":   "Gone",
			"message": "This endpoint has been disabled. Deprecated: use GET /extended/v3/transactions instead",
		})
		return
	}

	rec := &recorder{header: http.Header{}}
	s.mux.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	for k, v := range rec.header {
		h[k] = v
	}
	body := rec.body.Bytes()
	if rec.status == http.StatusOK && d.truncate && len(body) > 1 {
		s.fmu.Lock()
		s.stats.Truncated++
		s.fmu.Unlock()
		cut := body[:len(body)/2]
		if d.truncMode == TruncateWithLength {
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.status)
			_, _ = w.Write(cut)
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			// Abort: the server closes the connection without finishing
			// the promised body, and does not log a stack trace.
			panic(http.ErrAbortHandler)
		}
		h.Del("Content-Length")
		w.WriteHeader(rec.status)
		_, _ = w.Write(cut)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush() // commit to chunked encoding; the body then ends cleanly
		}
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
	if rec.status >= 200 && rec.status < 300 {
		s.fmu.Lock()
		s.stats.Served[key]++
		s.fmu.Unlock()
	}
}
