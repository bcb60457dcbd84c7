package hirosim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

var rateHeaders = []string{
	"x-ratelimit-limit-stacks-minute", "x-ratelimit-remaining-stacks-minute",
	"x-ratelimit-limit-stacks-second", "x-ratelimit-remaining-stacks-second",
	"x-ratelimit-limit-stacks-month", "x-ratelimit-remaining-stacks-month",
	"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "x-ratelimit-cost-stacks",
}

func headerInt(t *testing.T, h http.Header, name string) int {
	t.Helper()
	n, err := strconv.Atoi(h.Get(name))
	if err != nil {
		t.Fatalf("header %s = %q: %v", name, h.Get(name), err)
	}
	return n
}

func TestRateLimitPerSecond(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)}
	cfg := smallConfig(30)
	cfg.Clock = clock.Now
	s, base := startSim(t, cfg)
	s.SetFaults(Faults{PerSecond: 3})
	u := base + "/extended/v1/tx?limit=1"
	for i := range 3 {
		status, h, _ := get(t, u)
		if status != 200 {
			t.Fatalf("request %d: %d", i+1, status)
		}
		for _, name := range rateHeaders {
			if h.Get(name) == "" {
				t.Fatalf("request %d: no %s header", i+1, name)
			}
		}
		if got := headerInt(t, h, "x-ratelimit-remaining-stacks-second"); got != 2-i {
			t.Fatalf("request %d: remaining-second %d, want %d", i+1, got, 2-i)
		}
		if headerInt(t, h, "x-ratelimit-limit-stacks-second") != 3 || h.Get("x-ratelimit-cost-stacks") != "1" {
			t.Fatalf("limit/cost headers %v", h)
		}
	}
	status, h, _ := get(t, u)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") != "1" {
		t.Fatalf("4th request in the second: %d retry-after %q, want 429 1", status, h.Get("Retry-After"))
	}
	if h.Get("x-ratelimit-remaining-stacks-second") != "0" {
		t.Fatalf("429 remaining-second %q", h.Get("x-ratelimit-remaining-stacks-second"))
	}
	clock.Advance(time.Second)
	if status, _, _ := get(t, u); status != 200 {
		t.Fatalf("next second: %d", status)
	}
	if st := s.Stats(); st.Status429 != 1 {
		t.Fatalf("Stats.Status429 = %d, want 1", st.Status429)
	}
}

func TestRateLimitPerMinuteKeyedAndMonth(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 10, 12, 0, 15, 0, time.UTC)}
	cfg := smallConfig(31)
	cfg.Clock = clock.Now
	s, base := startSim(t, cfg)
	s.SetFaults(Faults{PerMinute: 4, PerMinuteKeyed: 8})
	u := base + "/extended"
	last := 5
	for i := range 4 {
		_, h, _ := get(t, u)
		rem := headerInt(t, h, "x-ratelimit-remaining-stacks-minute")
		if rem >= last || headerInt(t, h, "ratelimit-remaining") != rem {
			t.Fatalf("request %d: remaining %d after %d", i+1, rem, last)
		}
		last = rem
		// ratelimit-reset is the Unix time the window ends, as on the real API.
		wantReset := int(time.Date(2026, 1, 10, 12, 1, 0, 0, time.UTC).Unix())
		if headerInt(t, h, "ratelimit-reset") != wantReset || headerInt(t, h, "x-ratelimit-limit-stacks-minute") != 4 {
			t.Fatalf("reset %s limit %s, want %d 4", h.Get("ratelimit-reset"), h.Get("x-ratelimit-limit-stacks-minute"), wantReset)
		}
	}
	status, h, _ := get(t, u)
	if status != 429 || h.Get("Retry-After") != "45" {
		t.Fatalf("5th unkeyed request: %d retry-after %q, want 429 45", status, h.Get("Retry-After"))
	}
	// A key gets its own, higher limit.
	for i := range 8 {
		status, h, _ := get(t, u, "x-api-key", "k-123")
		if status != 200 || headerInt(t, h, "x-ratelimit-limit-stacks-minute") != 8 {
			t.Fatalf("keyed request %d: %d limit %s", i+1, status, h.Get("x-ratelimit-limit-stacks-minute"))
		}
	}
	if status, _, _ := get(t, u, "x-api-key", "k-123"); status != 429 {
		t.Fatalf("9th keyed request: %d, want 429", status)
	}
	st := s.Stats()
	if !st.SawAPIKey || st.LastAPIKey != "k-123" {
		t.Fatalf("stats key %v %q", st.SawAPIKey, st.LastAPIKey)
	}
	clock.Advance(45 * time.Second)
	if status, _, _ := get(t, u); status != 200 {
		t.Fatalf("next minute: %d", status)
	}

	// Monthly quota: the last request of the month, then 429 with 0 left.
	s.SetFaults(Faults{MonthLimit: 100, MonthUsed: 99})
	_, h, _ = get(t, u)
	if h.Get("x-ratelimit-remaining-stacks-month") != "0" || h.Get("x-ratelimit-limit-stacks-month") != "100" {
		t.Fatalf("month headers %q/%q", h.Get("x-ratelimit-remaining-stacks-month"), h.Get("x-ratelimit-limit-stacks-month"))
	}
	for range 2 {
		status, h, _ := get(t, u)
		if status != 429 || h.Get("x-ratelimit-remaining-stacks-month") != "0" || headerInt(t, h, "Retry-After") < 3600 {
			t.Fatalf("over quota: %d month %q retry %q", status, h.Get("x-ratelimit-remaining-stacks-month"), h.Get("Retry-After"))
		}
	}
}

func TestRandomFaults(t *testing.T) {
	s, base := startSim(t, smallConfig(32))
	u := base + "/extended/v1/tx?limit=5"

	s.SetFaults(Faults{Rate5xx: 1})
	for range 20 {
		status, h, _ := get(t, u)
		if !slices.Contains([]int{500, 502, 503, 504}, status) || h.Get("x-ratelimit-limit-stacks-minute") == "" {
			t.Fatalf("Rate5xx=1 gave %d", status)
		}
	}
	// Prices are another service: not affected unless PriceFaults.
	if status, _, _ := get(t, base+"/api/v3/coins/blockstack/market_chart?vs_currency=usd&days=3"); status != 200 {
		t.Fatalf("CoinGecko under Hiro 5xx faults: %d", status)
	}

	s.SetFaults(Faults{Rate429: 1, RetryAfter: 2500 * time.Millisecond})
	if status, h, _ := get(t, u); status != 429 || h.Get("Retry-After") != "3" {
		t.Fatalf("Rate429=1: %d retry-after %q", status, h.Get("Retry-After"))
	}

	s.SetFaults(Faults{Rate5xx: 0.3})
	fails := 0
	for range 200 {
		if status, _, _ := get(t, u); status >= 500 {
			fails++
		}
	}
	if fails < 30 || fails > 90 {
		t.Fatalf("Rate5xx=0.3 failed %d of 200", fails)
	}
	st := s.Stats()
	if st.Status5xx != int64(20+fails) || st.Status429 != 1 {
		t.Fatalf("stats 5xx %d 429 %d, want %d 1", st.Status5xx, st.Status429, 20+fails)
	}
}

func TestTruncatedBodies(t *testing.T) {
	s, base := startSim(t, smallConfig(33))
	u := base + "/extended/v1/tx?limit=50"
	_, _, full := get(t, u)

	s.SetFaults(Faults{RateTruncate: 1, TruncateMode: TruncateWithLength})
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(full)) {
		t.Fatalf("with length: status %d content-length %d, want 200 %d", resp.StatusCode, resp.ContentLength, len(full))
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("with length: read error %v, want unexpected EOF", err)
	}

	s.SetFaults(Faults{RateTruncate: 1, TruncateMode: TruncateChunked})
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != -1 || len(body) >= len(full) {
		t.Fatalf("chunked: status %d length %d read %d of %d bytes, err %v", resp.StatusCode, resp.ContentLength, len(body), len(full), err)
	}
	if json.Valid(body) {
		t.Fatal("chunked: truncated body is valid JSON")
	}
	st := s.Stats()
	if st.Truncated != 2 || st.Served[strings.TrimPrefix(u, base)] != 1 {
		t.Fatalf("stats truncated %d served %v", st.Truncated, st.Served)
	}
}

func TestLatencyAndSlowResponses(t *testing.T) {
	s, base := startSim(t, smallConfig(34))
	s.SetFaults(Faults{Latency: 60 * time.Millisecond, LatencyJitter: 20 * time.Millisecond})
	start := time.Now()
	get(t, base+"/extended")
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("latency fault: answered in %s", d)
	}

	s.SetFaults(Faults{RateSlow: 1, SlowDelay: 10 * time.Second})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start = time.Now()
	_, err := client.Get(base + "/extended")
	var ne interface{ Timeout() bool }
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("slow response: err %v, want a client timeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("client timeout did not fire")
	}
	if s.Stats().Slow != 1 {
		t.Fatalf("Stats.Slow = %d", s.Stats().Slow)
	}
	// Close must not wait for the delayed response.
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close blocked on a slow response")
	}
}

func TestSunsetSwitches(t *testing.T) {
	s, base := startSim(t, smallConfig(35))
	s.SetFaults(Faults{V1Gone: true})
	status, h, body := get(t, base+"/extended/v1/tx?limit=1")
	var gone struct{ Error, Message string }
	if status != http.StatusGone || json.Unmarshal(body, &gone) != nil || gone.Error != "Gone" ||
		!strings.HasPrefix(gone.Message, "This endpoint has been disabled.") || h.Get("Warning") == "" {
		t.Fatalf("V1Gone: %d %s", status, body)
	}
	if status, _, _ := get(t, base+"/extended/v3/transactions?limit=1"); status != 200 {
		t.Fatalf("V1Gone broke v3: %d", status)
	}
	s.SetFaults(Faults{V3Absent: true})
	if status, _, _ := get(t, base+"/extended/v3/transactions?limit=1"); status != 404 {
		t.Fatalf("V3Absent: v3 answered %d", status)
	}
	if status, _, _ := get(t, base+"/extended/v1/tx?limit=1"); status != 200 {
		t.Fatalf("V3Absent broke v1: %d", status)
	}
	st := s.Stats()
	if st.Gone410 != 1 || st.ByRoute["/extended/v3/transactions"] != 2 || st.ByRoute["/extended/v1/tx"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStatsCountPagesServedTwice(t *testing.T) {
	s, base := startSim(t, smallConfig(36))
	get(t, base+"/extended/v1/tx?limit=50&offset=0")
	get(t, base+"/extended/v1/tx?offset=50&limit=50")
	waitServed(t, s, 2)
	if d := s.Stats().ServedTwice(); len(d) != 0 {
		t.Fatalf("no page was fetched twice, got %v", d)
	}
	get(t, base+"/extended/v1/tx?offset=0&limit=50") // same query, other order
	waitServed(t, s, 3)
	st := s.Stats()
	if d := st.ServedTwice(); len(d) != 1 || d[0] != "/extended/v1/tx?limit=50&offset=0" {
		t.Fatalf("ServedTwice = %v", d)
	}
	if st.Requests != 3 || st.ByRoute["/extended/v1/tx"] != 3 {
		t.Fatalf("requests %d by route %v", st.Requests, st.ByRoute)
	}
}

func TestReorgChangesGroundTruthConsistently(t *testing.T) {
	s, base := startSim(t, Config{Seed: 40, Now: testNow, History: 3 * time.Hour, TxPerBlock: 3})
	before := s.All()
	tipBefore := s.Tip()
	const depth = 8
	s.Reorg(depth)
	after := s.All()
	checkChain(t, after)
	tip := s.Tip()
	if tip.Height != tipBefore.Height+1 || tip.Hash == tipBefore.Hash {
		t.Fatalf("tip %d %s after reorg of depth %d from %d", tip.Height, tip.Hash, depth, tipBefore.Height)
	}
	forkHeight := tipBefore.Height - depth + 1
	oldByID := map[string]chain.Tx{}
	for _, x := range before {
		oldByID[x.TxID] = x
	}
	newByID := map[string]chain.Tx{}
	var moved, remined, fresh int
	for _, x := range after {
		newByID[x.TxID] = x
		old, ok := oldByID[x.TxID]
		switch {
		case x.BlockHeight < forkHeight:
			if old != x {
				t.Fatalf("tx below the fork changed: %+v -> %+v", old, x)
			}
		case !ok:
			fresh++
		default:
			remined++
			if x.BlockHash == old.BlockHash {
				t.Fatalf("re-mined tx %s kept its block hash", x.TxID)
			}
			if x.BlockHeight != old.BlockHeight {
				moved++
			}
		}
	}
	dropped := 0
	for _, x := range before {
		if _, ok := newByID[x.TxID]; !ok {
			dropped++
			if x.BlockHeight < forkHeight {
				t.Fatalf("tx %s below the fork was dropped", x.TxID)
			}
		}
	}
	if dropped == 0 || remined == 0 || moved == 0 || fresh == 0 {
		t.Fatalf("reorg: dropped %d, re-mined %d (moved %d), new %d: want all > 0", dropped, remined, moved, fresh)
	}
	// The API serves the new chain: a v3 walk equals the ground truth.
	var got []chain.Tx
	next := ""
	for {
		u := base + "/extended/v3/transactions?limit=50"
		if next != "" {
			u += "&cursor=" + next
		}
		var page apiV3Page
		getJSON(t, u, &page)
		for _, r := range page.Results {
			got = append(got, r.chainTx(t))
		}
		if page.Cursor.Next == nil {
			break
		}
		next = *page.Cursor.Next
	}
	slices.Reverse(got)
	if d := diffTxs(got, after); d != "" {
		t.Fatalf("API after reorg: %s", d)
	}
	// Repeated reorgs and growth keep every invariant.
	for i := range 6 {
		s.Reorg(1 + i*3)
		s.Grow(4)
	}
	checkChain(t, s.All())
}

func TestGrowth(t *testing.T) {
	clock := &fakeClock{t: testNow.Add(10 * time.Minute)}
	cfg := smallConfig(41)
	cfg.Clock = clock.Now
	s := New(cfg)
	defer s.Close()
	before := s.Tip()
	s.SetFaults(Faults{GrowTenureBlocks: 3})
	s.Grow(7)
	tip := s.Tip()
	if tip.Height != before.Height+7 || tip.TxCount < before.TxCount+7 || !tip.BlockTime.Equal(clock.Now()) {
		t.Fatalf("Grow(7): %+v from %+v", tip, before)
	}
	if tip.BurnHeight < before.BurnHeight+2 || !tip.BurnTime.Equal(clock.Now()) {
		t.Fatalf("Grow with GrowTenureBlocks 3 made burn height %d from %d", tip.BurnHeight, before.BurnHeight)
	}
	checkChain(t, s.All())
	// The new transactions are in the window ending now.
	if got := s.GroundTruth(clock.Now(), clock.Now()); len(got) == 0 {
		t.Fatal("grown transactions are not in the ground truth at the clock's time")
	}

	// Live growth in the background, stopped by SetFaults and by Close.
	s.SetFaults(Faults{GrowEvery: 5 * time.Millisecond, GrowBlocks: 2})
	deadline := time.Now().Add(5 * time.Second)
	for s.Tip().Height < tip.Height+6 {
		if time.Now().After(deadline) {
			t.Fatalf("live growth stalled at %d", s.Tip().Height)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	h := s.Tip().Height
	// Not a wait for an event: a window of six growth ticks in which a
	// growth loop that outlived Close would show itself.
	time.Sleep(30 * time.Millisecond)
	if s.Tip().Height != h {
		t.Fatal("growth continued after Close")
	}
	checkChain(t, s.All())
}

func TestPricesMarketChart(t *testing.T) {
	cfg := smallConfig(50)
	cfg.PriceGapRate = 0.1
	cfg.PriceGaps = []string{"2025-07-20"}
	s, base := startSim(t, cfg)
	daily, gaps := s.Prices()
	if !slices.Contains(gaps, "2025-07-20") || len(gaps) < 20 {
		t.Fatalf("gaps %v", gaps)
	}
	var mc struct {
		Prices       [][2]json.Number `json:"prices"`
		MarketCaps   [][2]json.Number `json:"market_caps"`
		TotalVolumes [][2]json.Number `json:"total_volumes"`
	}
	getJSON(t, base+"/api/v3/coins/blockstack/market_chart?vs_currency=usd&days=365&interval=daily", &mc)
	if len(mc.Prices) != len(mc.MarketCaps) || len(mc.Prices) != len(mc.TotalVolumes) {
		t.Fatal("series lengths differ")
	}
	n := len(mc.Prices)
	for i, p := range mc.Prices[:n-1] {
		ms, _ := p[0].Int64()
		day := time.UnixMilli(ms).UTC()
		if ms%86_400_000 != 0 {
			t.Fatalf("point %d at %s is not 00:00 UTC", i, day)
		}
		date := day.Format(time.DateOnly)
		price, _ := p[1].Float64()
		if want, ok := daily[date]; !ok || want != price {
			t.Fatalf("%s: served %v, ground truth %v (gap %v)", date, price, want, slices.Contains(gaps, date))
		}
	}
	// 365 days minus the gaps in range, plus the final "now" point.
	inRange := 0
	for d := range daily {
		if t0, _ := time.Parse(time.DateOnly, d); !t0.Before(testNow.Add(-365 * 24 * time.Hour)) {
			inRange++
		}
	}
	if n-1 != inRange {
		t.Fatalf("%d daily points, ground truth has %d days in range", n-1, inRange)
	}
	nowMs, _ := mc.Prices[n-1][0].Int64()
	if time.UnixMilli(nowMs).Sub(testNow).Abs() > time.Minute {
		t.Fatalf("last point at %s, want now (%s)", time.UnixMilli(nowMs).UTC(), testNow)
	}

	from := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	getJSON(t, fmt.Sprintf("%s/api/v3/coins/blockstack/market_chart/range?vs_currency=usd&from=%d&to=%d",
		base, from.Unix(), from.Add(10*24*time.Hour).Unix()), &mc)
	want := 0
	for d := range 11 {
		if _, ok := daily[from.AddDate(0, 0, d).Format(time.DateOnly)]; ok {
			want++
		}
	}
	if len(mc.Prices) != want {
		t.Fatalf("range: %d points, want %d", len(mc.Prices), want)
	}
	if status, _, _ := get(t, base+"/api/v3/coins/blockstack/market_chart?days=3"); status != 400 {
		t.Fatalf("missing vs_currency: %d", status)
	}
	// Prices are deterministic in the seed.
	again, _ := New(cfg).Prices()
	if fmt.Sprint(again) != fmt.Sprint(daily) {
		t.Fatal("prices differ for the same seed")
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	logged := make(chan string, 10)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", smallConfig(60), Faults{}, func(f string, a ...any) {
			logged <- fmt.Sprintf(f, a...)
		})
	}()
	// Serve logs its address once it listens: wait for that line, then
	// prove it serves there.
	var line string
	select {
	case line = <-logged:
	case err := <-done:
		t.Fatalf("Serve returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve logged no address in 10 s")
	}
	_, rest, ok := strings.Cut(line, "http://127.0.0.1:")
	port, _, _ := strings.Cut(rest, ":")
	if !ok || port == "" {
		t.Fatalf("log line %q names no local address", line)
	}
	if status, _, _ := get(t, "http://127.0.0.1:"+port+"/extended"); status != 200 {
		t.Fatalf("GET /extended on the logged address: %d", status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop with its context")
	}
	if len(logged) != 0 {
		t.Fatalf("Serve logged more than one line: %q", <-logged)
	}
	if err := Serve(context.Background(), "256.0.0.1:1", smallConfig(60), Faults{}, nil); err == nil {
		t.Fatal("Serve on a bad address returned nil")
	}
}

// waitServed waits until n answers are counted as served: the server
// counts a page after its body is written, which a fast client can beat.
// It fails the test when they are not counted within 10 s.
func waitServed(t *testing.T, s *Sim, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int64
		for _, c := range s.Stats().Served {
			got += c
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d answers counted as served after 10 s, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
