package prices

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/netfail"
)

// HTTPError is a non-200 answer from the price API.
type HTTPError struct {
	URL        string
	StatusCode int
	Body       string // the first bytes of the body, for the message
}

// Error names the request and the status the price source answered.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// marketChartURL builds the CoinGecko request for the last `days` days.
func marketChartURL(base, coin string, days int) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("price base_url %q is not an absolute URL", base)
	}
	u.Path += "/api/v3/coins/" + url.PathEscape(coin) + "/market_chart"
	u.RawQuery = url.Values{
		"vs_currency": {"usd"},
		"days":        {strconv.Itoa(days)},
		"interval":    {"daily"},
	}.Encode()
	return u.String(), nil
}

// FetchCoinGecko requests daily prices reaching back to from (inclusive) and
// converts them to daily closes with ParseMarketChart.
func FetchCoinGecko(ctx context.Context, cfg Config, from time.Time) ([]Point, error) {
	coin := cfg.CoinID
	if coin == "" {
		coin = "blockstack"
	}
	// The close of `from` is the snapshot at from+1 00:00; two spare days
	// cover the partial current day and clock skew.
	days := max(1, int(cfg.now().Sub(day(from)).Hours()/24)+2)
	u, err := marketChartURL(cfg.BaseURL, coin, days)
	if err != nil {
		return nil, err
	}
	client := cfg.Client
	if client == nil {
		timeout := cfg.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		client = &http.Client{Timeout: timeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build price request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, unreachable(req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, &HTTPError{URL: u, StatusCode: resp.StatusCode, Body: printable(string(b))}
	}
	pts, err := ParseMarketChart(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return pts, nil
}

// unreachable says in one line which host could not be reached and why:
// the client's error repeats the URL, and a failed lookup names the
// resolver, neither of which helps the reader.
func unreachable(u *url.URL, err error) error {
	why, ok := netfail.Reason(err)
	switch {
	case ok:
	case os.IsTimeout(err):
		why = "no answer in time"
	default:
		why = err.Error()
	}
	return &reachError{Host: u.Host, Why: why, Err: err}
}

// reachError is a price source that could not be reached at all.
type reachError struct {
	Host, Why string
	Err       error // the client's error, for errors.Is (a cancelled context)
}

// Error names the host, the reason and the way out.
func (e *reachError) Error() string {
	return fmt.Sprintf("cannot reach %s (%s): check the network, or set dashboards.prices.source to csv or none", e.Host, e.Why)
}

// Unwrap returns the client's error.
func (e *reachError) Unwrap() error { return e.Err }

// printable keeps an error body on one line and free of control characters.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// snapshotTolerance is how far past 00:00 UTC a market_chart point may be and
// still count as that day's daily snapshot.
const snapshotTolerance = time.Hour

// ParseMarketChart decodes a market_chart body ({"prices": [[ms, price], …]})
// into daily closes.
//
// CoinGecko stamps daily points at 00:00 UTC and appends one more point for
// "now". The rules:
//   - the trailing point is dropped unless it is exactly at 00:00:00 UTC (it
//     is the intraday "now" price, not a close);
//   - any other point more than an hour past midnight is dropped too;
//   - a snapshot taken on day D at 00:00 is the close of day D−1, so it is
//     stored as the price of D−1 (the price of day D is the close of D,
//     and transactions join on tx_date = price_date);
//   - when two points map to the same day, the one nearest midnight wins;
//   - non-finite or non-positive prices are dropped.
func ParseMarketChart(r io.Reader) ([]Point, error) {
	var body struct {
		Prices [][]json.Number `json:"prices"`
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("decode market_chart: %w", err)
	}
	if body.Prices == nil {
		return nil, errors.New(`decode market_chart: no "prices" array`)
	}
	type snap struct {
		at    time.Time
		price float64
	}
	snaps := make([]snap, 0, len(body.Prices))
	for i, p := range body.Prices {
		if len(p) != 2 {
			return nil, fmt.Errorf("decode market_chart: prices[%d] has %d values, want [ms, price]", i, len(p))
		}
		ms, err := p[0].Int64()
		if err != nil {
			f, ferr := p[0].Float64()
			if ferr != nil {
				return nil, fmt.Errorf("decode market_chart: prices[%d] timestamp %q: %w", i, p[0], err)
			}
			ms = int64(f)
		}
		price, err := p[1].Float64()
		if err != nil {
			return nil, fmt.Errorf("decode market_chart: prices[%d] price %q: %w", i, p[1], err)
		}
		snaps = append(snaps, snap{time.UnixMilli(ms).UTC(), price})
	}
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].at.Before(snaps[j].at) })
	if n := len(snaps); n > 0 && !snaps[n-1].at.Equal(day(snaps[n-1].at)) {
		snaps = snaps[:n-1] // the "now" point
	}
	best := map[time.Time]snap{}
	for _, s := range snaps {
		off := s.at.Sub(day(s.at))
		if off >= snapshotTolerance || math.IsNaN(s.price) || math.IsInf(s.price, 0) || s.price <= 0 {
			continue
		}
		d := day(s.at).AddDate(0, 0, -1)
		if b, ok := best[d]; !ok || off < b.at.Sub(day(b.at)) {
			best[d] = s
		}
	}
	out := make([]Point, 0, len(best))
	for d, s := range best {
		out = append(out, Point{Date: d, Price: s.price})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out, nil
}

// ReadCSV reads a `date,price_usd` file: a header row, then one row per UTC
// day (YYYY-MM-DD) with that day's closing price. The file's price for D is
// stored as the price of D, unchanged. Errors name the line.
func ReadCSV(path string) ([]Point, error) {
	if path == "" {
		return nil, errors.New("price source is csv but no csv path is set (dashboards.prices.csv)")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open price csv: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("price csv %s: read header: %w", path, err)
	}
	if len(header) < 2 || !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(header[0], "\ufeff")), "date") ||
		!strings.EqualFold(strings.TrimSpace(header[1]), "price_usd") {
		return nil, fmt.Errorf("price csv %s line 1: header %q, want date,price_usd", path, strings.Join(header, ","))
	}
	seen := map[time.Time]int{}
	var out []Point
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("price csv %s: %w", path, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("price csv %s line %d: want date,price_usd, got %d field(s)", path, line, len(rec))
		}
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("price csv %s line %d: date %q is not YYYY-MM-DD", path, line, rec[0])
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil || math.IsNaN(p) || math.IsInf(p, 0) || p <= 0 {
			return nil, fmt.Errorf("price csv %s line %d: price_usd %q is not a positive number", path, line, rec[1])
		}
		if prev, dup := seen[d]; dup {
			return nil, fmt.Errorf("price csv %s line %d: date %s repeats line %d", path, line, rec[0], prev)
		}
		seen[d] = line
		out = append(out, Point{Date: d, Price: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out, nil
}
