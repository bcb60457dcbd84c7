package walletstest

import (
	"sort"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Reference is the wallet metrics computed directly in Go from the rows, by
// a deliberately naive algorithm that shares nothing with the SQL: tests
// compare the dashboards' numbers against it for exact equality.
type Reference struct {
	DataEnd, HistoryStart, LastFullWeek time.Time

	FirstSeen    map[string]time.Time // wallet → first user tx block_time
	FirstTx      map[string]chain.Tx  // wallet → its first user tx in chain order (time, height, index)
	ReceiveOnly  map[string]bool      // successful STX recipients that never signed a user tx
	Daily        map[time.Time]RefDay
	CohortSizes  map[time.Time]int64         // Monday → wallets (cohort weeks wholly inside the data only)
	Retention    map[time.Time]map[int]int64 // Monday → week index → active wallets (observed cells)
	Eligible     map[int]int64               // window → eligible wallets
	Censored     map[int]int64               // window → censored wallets
	FeesMicro    map[int]uint64              // window → Σ fee_rate of eligible wallets' txs in the window
	Activation   [4]int64                    // ≥1, ≥2, ≥5, ≥10 txs in days 0…29, eligible wallets
	Strict       [5]int64                    // day 0, then active in brackets cumulatively
	Bracket      [5]int64                    // day 0, then active in each bracket independently
	UserTxs      int64
	DailyFeesSum map[time.Time]uint64
}

// RefDay is one day of the reference growth panel.
type RefDay struct{ Active, New, Returning, WAU, MAU int64 }

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func monday(d time.Time) time.Time {
	d = day(d)
	for d.Weekday() != time.Monday {
		d = d.AddDate(0, 0, -1)
	}
	return d
}

func isUser(t chain.Tx) bool {
	return t.Canonical && !strings.Contains(t.SenderAddress, ".") &&
		(t.TxType == "token_transfer" || t.TxType == "contract_call" || t.TxType == "smart_contract")
}

// chainBefore orders txs by time, ties broken in chain order (block height,
// then position in the block).
func chainBefore(a, b chain.Tx) bool {
	if !a.BlockTime.Equal(b.BlockTime) {
		return a.BlockTime.Before(b.BlockTime)
	}
	if a.BlockHeight != b.BlockHeight {
		return a.BlockHeight < b.BlockHeight
	}
	return a.TxIndex < b.TxIndex
}

// DataEnd applies the data_end_date rule to the rows: the newest day minus
// one when it is today, else the newest day (docs/metrics.md, "time frame").
func DataEnd(txs []chain.Tx, now time.Time) time.Time {
	var last time.Time
	for _, t := range txs {
		if t.Canonical && t.BlockTime.After(last) {
			last = t.BlockTime
		}
	}
	d := day(last)
	if !d.Before(day(now)) {
		return day(now).AddDate(0, 0, -1)
	}
	return d
}

// Compute derives the reference metrics for rows in [historyStart, dataEnd].
func Compute(txs []chain.Tx, historyStart, dataEnd time.Time, windows []int) *Reference {
	ref := &Reference{
		DataEnd: dataEnd, HistoryStart: historyStart,
		FirstSeen: map[string]time.Time{}, FirstTx: map[string]chain.Tx{}, ReceiveOnly: map[string]bool{},
		Daily: map[time.Time]RefDay{}, CohortSizes: map[time.Time]int64{},
		Retention: map[time.Time]map[int]int64{}, Eligible: map[int]int64{},
		Censored: map[int]int64{}, FeesMicro: map[int]uint64{}, DailyFeesSum: map[time.Time]uint64{},
	}
	// Last Monday whose Sunday is ≤ dataEnd.
	lfw := monday(dataEnd)
	if dataEnd.Weekday() != time.Sunday {
		lfw = lfw.AddDate(0, 0, -7)
	}
	ref.LastFullWeek = lfw

	activeDays := map[string]map[time.Time]bool{}
	txsOnDay := map[string]map[time.Time]int64{}
	feesOnDay := map[string]map[time.Time]uint64{}
	received := map[string]bool{}
	for _, t := range txs {
		if !isUser(t) {
			continue
		}
		d := day(t.BlockTime)
		if d.Before(historyStart) || d.After(dataEnd) {
			continue
		}
		ref.UserTxs++
		w := t.SenderAddress
		if fs, ok := ref.FirstSeen[w]; !ok || t.BlockTime.Before(fs) {
			ref.FirstSeen[w] = t.BlockTime
		}
		if ft, ok := ref.FirstTx[w]; !ok || chainBefore(t, ft) {
			ref.FirstTx[w] = t
		}
		if activeDays[w] == nil {
			activeDays[w], txsOnDay[w], feesOnDay[w] = map[time.Time]bool{}, map[time.Time]int64{}, map[time.Time]uint64{}
		}
		activeDays[w][d] = true
		txsOnDay[w][d]++
		feesOnDay[w][d] += t.FeeRate
		ref.DailyFeesSum[d] += t.FeeRate
		if t.TxType == "token_transfer" && t.TxStatus == "success" && t.TokenTransferRecipientAddress != "" &&
			!strings.Contains(t.TokenTransferRecipientAddress, ".") {
			received[t.TokenTransferRecipientAddress] = true
		}
	}
	for w := range received {
		if _, ok := ref.FirstSeen[w]; !ok {
			ref.ReceiveOnly[w] = true
		}
	}

	// Daily panel: brute force over every day and every wallet.
	for d := historyStart; !d.After(dataEnd); d = d.AddDate(0, 0, 1) {
		var rd RefDay
		for w, days := range activeDays {
			fs := day(ref.FirstSeen[w])
			if days[d] {
				rd.Active++
				if fs.Equal(d) {
					rd.New++
				} else {
					rd.Returning++
				}
			}
			inWindow := func(n int) bool {
				for k := 0; k < n; k++ {
					if days[d.AddDate(0, 0, -k)] {
						return true
					}
				}
				return false
			}
			if inWindow(7) {
				rd.WAU++
			}
			if inWindow(30) {
				rd.MAU++
			}
		}
		ref.Daily[d] = rd
	}

	// Cohorts and retention.
	for w, fsAt := range ref.FirstSeen {
		c := monday(fsAt)
		if c.After(lfw) || c.Before(historyStart) {
			continue
		}
		ref.CohortSizes[c]++
		weeks := map[int]bool{}
		for d := range activeDays[w] {
			weeks[int(monday(d).Sub(c).Hours()/24)/7] = true
		}
		if ref.Retention[c] == nil {
			ref.Retention[c] = map[int]int64{}
		}
		for k := range weeks {
			if !c.AddDate(0, 0, 7*k).After(lfw) {
				ref.Retention[c][k]++
			}
		}
	}

	// Value windows, funnels.
	for w, fsAt := range ref.FirstSeen {
		fs := day(fsAt)
		for _, n := range windows {
			if fs.AddDate(0, 0, n-1).After(dataEnd) {
				ref.Censored[n]++
				continue
			}
			ref.Eligible[n]++
			for d, f := range feesOnDay[w] {
				if idx := int(d.Sub(fs).Hours() / 24); idx < n {
					ref.FeesMicro[n] += f
				}
			}
		}
		activeIn := func(a, b int) bool {
			for d := range activeDays[w] {
				if idx := int(d.Sub(fs).Hours() / 24); idx >= a && idx <= b {
					return true
				}
			}
			return false
		}
		if !fs.AddDate(0, 0, 29).After(dataEnd) {
			var n int64
			for d, c := range txsOnDay[w] {
				if int(d.Sub(fs).Hours()/24) < 30 {
					n += c
				}
			}
			for i, min := range []int64{1, 2, 5, 10} {
				if n >= min {
					ref.Activation[i]++
				}
			}
		}
		if !fs.AddDate(0, 0, 89).After(dataEnd) {
			ref.Strict[0]++
			ref.Bracket[0]++
			strict := true
			for i, br := range [][2]int{{1, 14}, {15, 29}, {30, 59}, {60, 89}} {
				a := activeIn(br[0], br[1])
				if a {
					ref.Bracket[i+1]++
				}
				strict = strict && a
				if strict {
					ref.Strict[i+1]++
				}
			}
		}
	}
	return ref
}

// Dates returns the reference's days in order.
func (r *Reference) Dates() []time.Time {
	out := make([]time.Time, 0, len(r.Daily))
	for d := range r.Daily {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
