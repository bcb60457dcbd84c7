package hirosim

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// priceSeries is the deterministic daily STX/USD history CoinGecko serves:
// a geometric random walk with one close per UTC day.
type priceSeries struct {
	first int64     // unix day number of prices[0]
	price []float64 // per day
	gap   []bool    // left out by the API
}

const daySeconds = 86400

// priceLookahead covers days the chain may grow into after Now.
const priceLookahead = 60

func newPriceSeries(cfg Config) priceSeries {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x57c))
	today := cfg.Now.Unix() / daySeconds
	ps := priceSeries{first: today - int64(cfg.PriceDays)}
	n := cfg.PriceDays + 1 + priceLookahead
	explicit := map[int64]bool{}
	for _, d := range cfg.PriceGaps {
		if t, err := time.Parse(time.DateOnly, d); err == nil {
			explicit[t.Unix()/daySeconds] = true
		}
	}
	p := 0.8 + 1.6*rng.Float64()
	for i := range n {
		p *= math.Exp(0.045 * rng.NormFloat64())
		p = min(max(p, 0.05), 50)
		// Six significant digits, like CoinGecko's daily closes.
		ps.price = append(ps.price, roundSig(p, 6))
		gap := explicit[ps.first+int64(i)] || rng.Float64() < cfg.PriceGapRate
		ps.gap = append(ps.gap, gap)
	}
	return ps
}

func roundSig(x float64, digits int) float64 {
	if x == 0 {
		return 0
	}
	scale := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*scale) / scale
}

// at returns the close of the UTC day containing unix time t.
func (ps priceSeries) at(t int64) (price float64, gap, ok bool) {
	i := floorDiv(t, daySeconds) - ps.first
	if i < 0 || i >= int64(len(ps.price)) {
		return 0, false, false
	}
	return ps.price[i], ps.gap[i], true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// dailyPoints returns the 00:00 UTC points in [from, to] (unix seconds)
// that are not gaps, as [ms, price] pairs, plus market caps and volumes.
func (ps priceSeries) dailyPoints(from, to int64) (prices, caps, vols [][2]float64) {
	for d := floorDiv(from+daySeconds-1, daySeconds); d*daySeconds <= to; d++ {
		t := d * daySeconds
		p, gap, ok := ps.at(t)
		if !ok || gap {
			continue
		}
		prices = append(prices, [2]float64{float64(t * 1000), p})
		caps = append(caps, [2]float64{float64(t * 1000), math.Round(p * supplyAt(t))})
		vols = append(vols, [2]float64{float64(t * 1000), math.Round(p * volumeAt(d))})
	}
	return prices, caps, vols
}

// supplyAt is a slowly growing circulating supply in STX.
func supplyAt(t int64) float64 { return 1.45e9 + float64(t%(1<<30))*0.05 }

func volumeAt(day int64) float64 { return 20e6 + float64(splitmix(uint64(day))%60e6) }

// Prices returns the CoinGecko ground truth: the daily close per UTC date
// ("2006-01-02") for every day the API serves up to the simulator's now, and
// the dates it leaves out, sorted.
func (s *Sim) Prices() (daily map[string]float64, gaps []string) {
	daily = map[string]float64{}
	today := floorDiv(s.priceNow(), daySeconds)
	for i, p := range s.prices.price {
		if s.prices.first+int64(i) > today {
			break
		}
		date := time.Unix((s.prices.first+int64(i))*daySeconds, 0).UTC().Format(time.DateOnly)
		if s.prices.gap[i] {
			gaps = append(gaps, date)
			continue
		}
		daily[date] = p
	}
	sort.Strings(gaps)
	return daily, gaps
}

// priceNow is CoinGecko's "now": the chain's now, moving with live growth.
func (s *Sim) priceNow() int64 {
	s.mu.RLock()
	t := s.blocks[len(s.blocks)-1].time
	s.mu.RUnlock()
	return max(t, s.cfg.Now.Unix())
}
