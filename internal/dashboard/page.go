package dashboard

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/stxwallets/walletcache/internal/prices"
	"github.com/stxwallets/walletcache/internal/wallets"
)

//go:embed page.html.tmpl
var pageTemplate string

// checkScript is the page's only script. It does not draw anything (the
// charts are static SVG); it records on <html> that every chart has a
// non-empty drawing (data-drawn on each figure, data-charts-drawn overall)
// and any script error (data-script-errors), so a headless browser can
// assert both from the DOM. The CSP allows exactly this script by hash.
const checkScript = `(function () {
  var root = document.documentElement, errors = [];
  window.addEventListener("error", function (e) {
    errors.push(String(e.message || e));
    root.setAttribute("data-script-errors", errors.join(" | "));
    root.setAttribute("data-render", "error");
  });
  function check() {
    var figs = document.querySelectorAll("figure.chart"), drawn = 0;
    for (var i = 0; i < figs.length; i++) {
      var svg = figs[i].querySelector("svg"), box = svg ? svg.getBBox() : null;
      var marks = svg ? svg.querySelectorAll(".mark").length : 0;
      var ok = !!box && box.width > 0 && box.height > 0 &&
        (marks > 0 || figs[i].getAttribute("data-empty") === "true");
      figs[i].setAttribute("data-drawn", ok ? "true" : "false");
      if (ok) drawn++;
    }
    root.setAttribute("data-charts", String(figs.length));
    root.setAttribute("data-charts-drawn", String(drawn));
    if (!errors.length) root.setAttribute("data-render", drawn === figs.length ? "done" : "incomplete");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", check); else check();
})();`

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{"coord": coord}).Parse(pageTemplate))

// cspMeta pins the page to itself: no request may leave it (no scripts,
// styles, fonts or images from anywhere), and the one inline script runs
// only if its hash matches.
func cspMeta() template.HTML {
	sum := sha256.Sum256([]byte(checkScript))
	return template.HTML(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; ` +
		`style-src 'unsafe-inline'; img-src data:; script-src 'sha256-` + base64.StdEncoding.EncodeToString(sum[:]) +
		`'; base-uri 'none'; form-action 'none'">`)
}

type kpi struct{ Label, Value string }

type cell struct {
	Text      string
	Num, Code bool
}

type table struct {
	ID, Caption string
	Head        []cell
	Rows        [][]cell
}

type section struct {
	Panel, Title, Intro string
	Charts              []chart
	Table               *table
}

type pageData struct {
	CSP                template.HTML
	Script             template.JS
	DataStart, DataEnd string
	Days               int
	Coverage           string
	Missing            []string
	BuiltAt            string
	PriceSource        string
	Banners            []string
	KPIs               []kpi
	Sections           []section
}

// pageInput is everything the page shows.
type pageInput struct {
	opts    Options
	summary wallets.Summary
	panels  wallets.Panels
	prices  []prices.Day
	pstatus prices.Status
}

// palette: colour-blind-safe (Okabe–Ito based).
const (
	cActive    = "#1b2430"
	cNew       = "#009e73"
	cReturning = "#e69f00"
	cCum       = "#0072b2"
	c7d        = "#0072b2"
	c30d       = "#cc79a7"
	cFees      = "#d55e00"
	cMean      = "#0072b2"
	cMedian    = "#56b4e9"
	cP90       = "#cc79a7"
	cEligible  = "#009e73"
	cCensored  = "#bbbbbb"
	cPrice     = "#1b2430"
	cFunnel    = "#0072b2"
	cBracket   = "#56b4e9"
)

func renderPage(in pageInput) ([]byte, error) {
	p := in.summary.Period
	d := pageData{
		CSP:         cspMeta(),
		Script:      template.JS(checkScript),
		DataStart:   fmtDate(p.HistoryStart),
		DataEnd:     fmtDate(p.DataEndDate),
		Days:        p.Days(),
		BuiltAt:     in.opts.BuiltAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		PriceSource: priceSourceText(in.pstatus),
	}
	cov := in.opts.Coverage
	if cov.Known {
		d.Coverage = strconv.FormatFloat(cov.Percent, 'f', 1, 64) + " %"
		if cov.TargetDays > 0 {
			d.Coverage += fmt.Sprintf(" of the %d-day target", cov.TargetDays)
		}
		for _, r := range cov.MissingRanges {
			d.Missing = append(d.Missing, fmtRange(r))
		}
		if cov.Percent < 100 || len(cov.MissingRanges) > 0 {
			d.Banners = append(d.Banners, fmt.Sprintf("Coverage is %s: days in the missing ranges have no transactions here, so counts there are too low and wallets active only then are missing or counted as new later.", d.Coverage))
		}
	} else {
		d.Coverage = "not reported"
	}
	if in.pstatus.Reason != "" {
		d.Banners = append(d.Banners, in.pstatus.Reason)
	}
	d.KPIs = kpis(in)
	d.Sections = []section{
		growthSection(in),
		retentionSection(in),
		funnelSection(in),
		valueSection(in),
		priceSection(in),
		acquisitionSection(in),
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("render index.html: %w", err)
	}
	return buf.Bytes(), nil
}

func fmtRange(r Range) string {
	s, e := r.Start.UTC(), r.End.UTC()
	layout := "2006-01-02 15:04"
	if s.Equal(truncDay(s)) && e.Equal(truncDay(e)) {
		layout = time.DateOnly
	}
	return s.Format(layout) + " – " + e.Format(layout) + " UTC"
}

func truncDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func priceSourceText(st prices.Status) string {
	if !st.Available {
		return st.Source + " (USD not shown)"
	}
	return fmt.Sprintf("%s, %d observed + %d filled days, %d without a price", st.Source, st.Observed, st.Filled, st.Unpriced)
}

func kpis(in pageInput) []kpi {
	s := in.summary
	out := []kpi{
		{"wallets first seen in range", fmtInt(s.ActiveWallets)},
		{"receive-only principals (not wallets in cohorts)", fmtInt(s.Wallets - s.ActiveWallets)},
		{"user transactions in range", fmtInt(s.UserTxs)},
		{"wallets whose first tx here has nonce > 0 (active before the data starts)", fmtInt(s.NonceAboveZero)},
	}
	if n := len(in.panels.Daily); n > 0 {
		last := in.panels.Daily[n-1]
		out = append(out,
			kpi{"active wallets on " + fmtDate(last.Date), fmtInt(last.ActiveWallets)},
			kpi{"active wallets, 7 days to " + fmtDate(last.Date), fmtInt(last.WAU7d)},
			kpi{"active wallets, 30 days to " + fmtDate(last.Date), fmtInt(last.MAU30d)})
		total := new(big.Int)
		for _, r := range in.panels.Daily {
			if v, ok := new(big.Int).SetString(r.FeesMicro, 10); ok {
				total.Add(total, v)
			}
		}
		f, _ := new(big.Float).Quo(new(big.Float).SetInt(total), big.NewFloat(1e6)).Float64()
		out = append(out, kpi{"fees on user txs in range (STX)", fmtNum(f)})
	}
	return out
}

func nan(v float64, ok bool) float64 {
	if !ok {
		return math.NaN()
	}
	return v
}

func growthSection(in pageInput) section {
	rows := in.panels.Daily
	dates := make([]time.Time, len(rows))
	col := func(get func(wallets.DailyRow) float64) []float64 {
		out := make([]float64, len(rows))
		for i, r := range rows {
			out[i] = get(r)
		}
		return out
	}
	for i, r := range rows {
		dates[i] = r.Date
	}
	tip := func(i int) string {
		r := rows[i]
		return fmt.Sprintf("%s: %s active (%s new, %s returning) · 7d %s · 30d %s · cumulative %s · %s user txs · fees %s STX",
			fmtDate(r.Date), fmtInt(r.ActiveWallets), fmtInt(r.NewWallets), fmtInt(r.ReturningWallets),
			fmtInt(r.WAU7d), fmtInt(r.MAU30d), fmtInt(r.CumulativeWallets), fmtInt(r.UserTxs), wallets.FormatMicroSTX(r.FeesMicro))
	}
	rng := dateRangeText(in.summary.Period)
	fees := col(func(r wallets.DailyRow) float64 {
		f, _ := strconv.ParseFloat(wallets.FormatMicroSTX(r.FeesMicro), 64)
		return f
	})
	return section{
		Panel: "daily_wallets",
		Title: "Wallet growth",
		Intro: "Daily active wallets split into new (first seen that day) and returning (first seen earlier); active = new + returning on every day. Cumulative wallets is the running count of new wallets since the start of the data.",
		Charts: []chart{
			lineChart(chart{ID: "chart-daily-active", Title: "Daily active wallets: new vs returning (wallets per UTC day)", Subtitle: rng},
				dates, "wallets / day", []series{
					{Name: "active", Color: cActive, Values: col(func(r wallets.DailyRow) float64 { return float64(r.ActiveWallets) })},
					{Name: "new", Color: cNew, Values: col(func(r wallets.DailyRow) float64 { return float64(r.NewWallets) })},
					{Name: "returning", Color: cReturning, Values: col(func(r wallets.DailyRow) float64 { return float64(r.ReturningWallets) })},
				}, tip),
			lineChart(chart{ID: "chart-cumulative", Title: "Cumulative wallets (wallets)", Subtitle: rng,
				Note: "Counts from the first day of the data: wallets first active before it are counted on the day they first appear here."},
				dates, "wallets", []series{
					{Name: "cumulative wallets", Color: cCum, Values: col(func(r wallets.DailyRow) float64 { return float64(r.CumulativeWallets) })},
				}, tip),
			lineChart(chart{ID: "chart-rolling-active", Title: "Active wallets over trailing 7 and 30 days (distinct wallets)", Subtitle: rng,
				Note: "Trailing windows end on each day; the first 6 (29) days of the data have shorter windows."},
				dates, "distinct wallets", []series{
					{Name: "7-day active", Color: c7d, Values: col(func(r wallets.DailyRow) float64 { return float64(r.WAU7d) })},
					{Name: "30-day active", Color: c30d, Values: col(func(r wallets.DailyRow) float64 { return float64(r.MAU30d) })},
				}, tip),
			lineChart(chart{ID: "chart-daily-fees", Title: "Fees on user transactions (STX per UTC day)", Subtitle: rng,
				Note: "Fees of every user tx signed that day, any status (failed txs pay fees too), including sponsored txs."},
				dates, "STX / day", []series{
					{Name: "fees (STX)", Color: cFees, Values: fees},
				}, tip),
		},
	}
}

func dateRangeText(p wallets.Period) string {
	return fmt.Sprintf("%s – %s, %d UTC days", fmtDate(p.HistoryStart), fmtDate(p.DataEndDate), p.Days())
}

func retentionSection(in pageInput) section {
	p := in.summary.Period
	sec := section{
		Panel: "cohort_retention",
		Title: "Weekly cohort retention",
		Intro: "Wallets grouped by the calendar week (Monday–Sunday, UTC) of their first transaction; each cell is the share of the cohort active in week k after. Cells whose week has not ended by data_end_date are blank (not zero); the incomplete current cohort is left out.",
	}
	c := chart{ID: "chart-retention-heatmap", Title: "Weekly cohort retention (% of cohort active in week k)", Wide: true}
	cells := in.panels.Cohorts
	if len(cells) == 0 {
		c.Subtitle = fmt.Sprintf("no complete cohort week yet (the last complete week starts %s)", fmtDate(p.LastFullWeek))
		c.W, c.H = 1320, 60
		c.Empty = "No complete cohort week in the data yet."
		sec.Charts = []chart{c}
		return sec
	}
	c.Subtitle = fmt.Sprintf("cohort weeks %s – %s; activity observed to %s", fmtDate(cells[0].CohortWeek),
		fmtDate(cells[len(cells)-1].CohortWeek), fmtDate(p.DataEndDate))
	c.Note = "The bottom row is the weighted average of the observed cells of each column (Σ active / Σ cohort size). Week 0 is 100 % by construction."
	sec.Charts = []chart{heatmap(c, cells)}
	return sec
}

func heatmap(c chart, cells []wallets.CohortCell) chart {
	type row struct {
		week  time.Time
		size  int64
		cells []wallets.CohortCell
	}
	var rows []row
	kmax := 0
	for _, cl := range cells {
		if len(rows) == 0 || !rows[len(rows)-1].week.Equal(cl.CohortWeek) {
			rows = append(rows, row{week: cl.CohortWeek, size: cl.CohortSize})
		}
		rows[len(rows)-1].cells = append(rows[len(rows)-1].cells, cl)
		kmax = max(kmax, cl.WeekIndex)
	}
	const labelW, top, rowH = 170.0, 34.0, 16.0
	c.W = 1320
	cellW := math.Min(56, (float64(c.W)-labelW-16)/float64(kmax+1))
	gridH := rowH * float64(len(rows))
	avgY := top + gridH + 6
	c.H = int(avgY + rowH + 64)
	showText := cellW >= 26
	labelEvery := 1
	if cellW < 22 {
		labelEvery = 4
	}
	for k := 0; k <= kmax; k++ {
		if k%labelEvery == 0 {
			c.Texts = append(c.Texts, svgText{X: labelW + cellW*(float64(k)+0.5), Y: top - 6, Anchor: "middle", Class: "tick", Text: "w" + strconv.Itoa(k)})
		}
	}
	c.Texts = append(c.Texts,
		svgText{X: labelW + cellW*float64(kmax+1)/2, Y: 12, Anchor: "middle", Class: "axis-title", Text: "weeks since the cohort week (k)"},
		svgText{X: labelW - 8, Y: top - 6, Anchor: "end", Class: "axis-title", Text: "cohort week · wallets"})
	active := make([]int64, kmax+1)
	size := make([]int64, kmax+1)
	for i, r := range rows {
		y := top + rowH*float64(i)
		c.Texts = append(c.Texts, svgText{X: labelW - 8, Y: y + rowH - 4, Anchor: "end", Class: "tick",
			Text: fmtDate(r.week) + " · " + fmtInt(r.size)})
		for _, cl := range r.cells {
			if !cl.Retention.Valid {
				continue
			}
			active[cl.WeekIndex] += cl.Active.Int64
			size[cl.WeekIndex] += cl.CohortSize
			x := labelW + cellW*float64(cl.WeekIndex)
			fill, dark := retentionColor(cl.Retention.Float64)
			c.Rects = append(c.Rects, svgRect{X: x, Y: y, W: cellW - 1, H: rowH - 1, Fill: fill, Class: "mark",
				Tip: fmt.Sprintf("cohort %s (%s wallets), week %d: %s active = %s", fmtDate(r.week), fmtInt(r.size),
					cl.WeekIndex, fmtInt(cl.Active.Int64), fmtPct(cl.Retention.Float64))})
			c.Marks++
			if showText {
				c.Texts = append(c.Texts, svgText{X: x + cellW/2, Y: y + rowH - 4.5, Anchor: "middle", Class: "cell",
					Text: strconv.FormatFloat(100*cl.Retention.Float64, 'f', 0, 64), Fill: textOn(dark)})
			}
		}
	}
	c.Texts = append(c.Texts, svgText{X: labelW - 8, Y: avgY + rowH - 4, Anchor: "end", Class: "label", Text: "weighted average"})
	for k := 0; k <= kmax; k++ {
		if size[k] == 0 {
			continue
		}
		r := float64(active[k]) / float64(size[k])
		x := labelW + cellW*float64(k)
		fill, dark := retentionColor(r)
		c.Rects = append(c.Rects, svgRect{X: x, Y: avgY, W: cellW - 1, H: rowH - 1, Fill: fill, Class: "mark",
			Tip: fmt.Sprintf("week %d, all observed cohorts: %s of %s = %s", k, fmtInt(active[k]), fmtInt(size[k]), fmtPct(r))})
		if showText {
			c.Texts = append(c.Texts, svgText{X: x + cellW/2, Y: avgY + rowH - 4.5, Anchor: "middle", Class: "cell",
				Text: strconv.FormatFloat(100*r, 'f', 0, 64), Fill: textOn(dark)})
		}
	}
	// Colour legend.
	ly := avgY + rowH + 22
	c.Texts = append(c.Texts, svgText{X: labelW - 8, Y: ly + 11, Anchor: "end", Class: "axis-title", Text: "retention"})
	for i, v := range []float64{0, 0.01, 0.05, 0.1, 0.25, 0.5, 1} {
		fill, _ := retentionColor(v)
		x := labelW + float64(i)*64
		c.Rects = append(c.Rects, svgRect{X: x, Y: ly, W: 20, H: 14, Fill: fill})
		c.Texts = append(c.Texts, svgText{X: x + 24, Y: ly + 11, Anchor: "start", Class: "tick", Text: fmtPct(v)})
	}
	c.Texts = append(c.Texts, svgText{X: labelW + 7*64 + 16, Y: ly + 11, Anchor: "start", Class: "tick", Text: "blank = week not over yet (not observed)"})
	return c
}

func textOn(dark bool) string {
	if dark {
		return "#ffffff"
	}
	return "#1b2430"
}

func funnelSection(in pageInput) section {
	p := in.summary.Period
	by := map[string][]wallets.FunnelStep{}
	for _, s := range in.panels.Funnel {
		by[s.Funnel] = append(by[s.Funnel], s)
	}
	mk := func(id, title, funnel string, window int, color string, isFunnel bool, note string) chart {
		steps := by[funnel]
		last := p.DataEndDate.AddDate(0, 0, -(window - 1))
		c := chart{ID: id, Title: title, Note: note}
		if last.Before(p.HistoryStart) {
			c.Subtitle = fmt.Sprintf("needs wallets first seen by %s; the data starts %s", fmtDate(last), fmtDate(p.HistoryStart))
		} else {
			c.Subtitle = fmt.Sprintf("wallets first seen %s – %s (whole %d-day window observed by %s)",
				fmtDate(p.HistoryStart), fmtDate(last), window, fmtDate(p.DataEndDate))
		}
		bars := make([]hbar, len(steps))
		for i, s := range steps {
			tip := fmt.Sprintf("%s: %s of %s eligible wallets (%s)", s.Step, fmtInt(s.Wallets), fmtInt(s.EligibleWallets),
				pctOrDash(s.ConversionFromStart.Float64, s.ConversionFromStart.Valid))
			if isFunnel && s.ConversionFromPrevious.Valid {
				tip += "; " + fmtPct(s.ConversionFromPrevious.Float64) + " of the previous step"
			}
			bars[i] = hbar{Label: s.Step, Value: s.Wallets, Of: s.EligibleWallets, Tip: tip}
		}
		xTitle := "wallets (share of eligible)"
		if !isFunnel {
			xTitle = "wallets active in the bracket (share of eligible)"
		}
		return hbarChart(c, bars, color, xTitle)
	}
	return section{
		Panel: "funnel",
		Title: "Wallet funnels",
		Intro: "Each funnel counts only wallets whose whole window is observed (first seen at least N−1 days before data_end_date), so every step shares one denominator. Day 0 is the first-seen UTC day.",
		Charts: []chart{
			mk("chart-funnel-activation", "Activation depth: user txs in the first 30 days (wallets)", "activation_depth_30d", 30, cFunnel, true,
				"Steps: at least 1, 2, 5 and 10 signed user txs in day index 0–29."),
			mk("chart-funnel-strict", "Continuously active over the first 90 days (strict funnel, wallets)", "active_strict_90d", 90, cFunnel, true,
				"Each step keeps the wallets of the previous one that were also active in the next bracket: days 1–14, 15–29, 30–59, 60–89."),
			mk("chart-funnel-bracket", "Active at 15 / 30 / 60 / 90 days (bracket retention, wallets)", "active_bracket_90d", 90, cBracket, false,
				"Not a funnel: each bracket is counted on its own, so a later bracket can be larger than an earlier one."),
		},
	}
}

func pctOrDash(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmtPct(v)
}

func valueSection(in pageInput) section {
	p := in.summary.Period
	vs := in.panels.Values
	cats := make([]string, len(vs))
	for i, v := range vs {
		cats[i] = strconv.Itoa(v.WindowDays) + " days"
	}
	g := func(name, color string, get func(wallets.ValueWindow) (float64, bool)) barGroup {
		b := barGroup{Name: name, Color: color, Values: make([]float64, len(vs))}
		for i, v := range vs {
			b.Values[i] = nan(get(v))
		}
		return b
	}
	tip := func(unit string, gs []barGroup) func(int, int) string {
		return func(gi, i int) string {
			v := vs[i]
			return fmt.Sprintf("%d-day window, %s: %s %s per wallet over %s eligible wallets (%s censored)",
				v.WindowDays, gs[gi].Name, fmtNum(gs[gi].Values[i]), unit, fmtInt(v.EligibleWallets), fmtInt(v.CensoredWallets))
		}
	}
	sub := fmt.Sprintf("wallets first seen %s – %s; a window counts a wallet only if it ends by %s",
		fmtDate(p.HistoryStart), fmtDate(p.DataEndDate), fmtDate(p.DataEndDate))
	usdEmpty := ""
	if !in.pstatus.Available {
		usdEmpty = in.pstatus.Reason
	}
	feesSTX := []barGroup{
		g("mean", cMean, func(v wallets.ValueWindow) (float64, bool) { return v.FeesSTXMean.Float64, v.FeesSTXMean.Valid }),
		g("median", cMedian, func(v wallets.ValueWindow) (float64, bool) { return v.FeesSTXMedian.Float64, v.FeesSTXMedian.Valid }),
		g("p90", cP90, func(v wallets.ValueWindow) (float64, bool) { return v.FeesSTXP90.Float64, v.FeesSTXP90.Valid }),
	}
	feesUSD := []barGroup{
		g("mean", cMean, func(v wallets.ValueWindow) (float64, bool) { return v.FeesUSDMean.Float64, v.FeesUSDMean.Valid }),
		g("median", cMedian, func(v wallets.ValueWindow) (float64, bool) { return v.FeesUSDMedian.Float64, v.FeesUSDMedian.Valid }),
	}
	sentSTX := []barGroup{
		g("mean", cMean, func(v wallets.ValueWindow) (float64, bool) { return v.STXSentMean.Float64, v.STXSentMean.Valid }),
		g("median", cMedian, func(v wallets.ValueWindow) (float64, bool) { return v.STXSentMedian.Float64, v.STXSentMedian.Valid }),
	}
	sentUSD := []barGroup{
		g("mean", cMean, func(v wallets.ValueWindow) (float64, bool) { return v.STXSentUSDMean.Float64, v.STXSentUSDMean.Valid }),
	}
	elig := []barGroup{
		g("eligible", cEligible, func(v wallets.ValueWindow) (float64, bool) { return float64(v.EligibleWallets), true }),
		g("censored", cCensored, func(v wallets.ValueWindow) (float64, bool) { return float64(v.CensoredWallets), true }),
	}
	usdChart := func(c chart, gs []barGroup) chart {
		if usdEmpty != "" {
			c.W, c.H = chartW, 80
			c.Empty = usdEmpty
			return c
		}
		return barChart(c, cats, "value window (days from first seen)", "USD per wallet", gs, false, tip("USD", gs))
	}
	return section{
		Panel: "value_windows",
		Title: "Value windows",
		Intro: "What a wallet does in its first N days (day 0 = first-seen UTC day). Only wallets whose whole window is observed are counted (eligible); the rest are right-censored, never counted as zero. Means include wallets with zero value. USD values each day at that day's STX/USD close.",
		Charts: []chart{
			barChart(chart{ID: "chart-value-fees-stx", Title: "Fees paid in the first N days (STX per wallet)", Subtitle: sub,
				Note: "Fees of every signed user tx, any status."}, cats, "value window (days from first seen)", "STX per wallet", feesSTX, false, tip("STX", feesSTX)),
			usdChart(chart{ID: "chart-value-fees-usd", Title: "Fees paid in the first N days (USD per wallet)", Subtitle: sub,
				Note: "Fee LTV: each day's fees at that day's price. Days without a price count 0 USD (see txs_missing_price)."}, feesUSD),
			barChart(chart{ID: "chart-value-sent-stx", Title: "STX sent in the first N days (STX per wallet)", Subtitle: sub,
				Note: "Successful token transfers only (failed transfers move nothing). Throughput, not value."}, cats, "value window (days from first seen)", "STX per wallet", sentSTX, false, tip("STX", sentSTX)),
			usdChart(chart{ID: "chart-value-sent-usd", Title: "STX sent in the first N days (USD per wallet)", Subtitle: sub,
				Note: "Each transfer at its day's price."}, sentUSD),
			barChart(chart{ID: "chart-value-eligibility", Title: "Eligible vs right-censored wallets per window (wallets)", Subtitle: sub,
				Note: "Eligible + censored = every wallet first seen in the data."}, cats, "value window (days from first seen)", "wallets", elig, true,
				func(gi, i int) string {
					v := vs[i]
					return fmt.Sprintf("%d-day window: %s eligible, %s censored, %s wallets", v.WindowDays,
						fmtInt(v.EligibleWallets), fmtInt(v.CensoredWallets), fmtInt(v.Wallets))
				}),
		},
	}
}

func priceSection(in pageInput) section {
	days := in.prices
	c := chart{ID: "chart-price", Title: "STX/USD daily close (USD)"}
	sec := section{
		Panel: "prices",
		Title: "STX/USD price",
		Intro: fmt.Sprintf("The daily close of STX in USD used to value transactions. Missing days are carried forward from the last observed close for at most %d days (dots), never back-filled.", prices.MaxFillDays),
	}
	if len(days) == 0 {
		c.W, c.H, c.Empty = chartW, 80, "No days in range."
		sec.Charts = []chart{c}
		return sec
	}
	c.Subtitle = fmt.Sprintf("%s – %s; source: %s", fmtDate(days[0].Date), fmtDate(days[len(days)-1].Date), in.pstatus.Source)
	if !in.pstatus.Available {
		c.W, c.H, c.Empty = chartW, 80, in.pstatus.Reason
		sec.Charts = []chart{c}
		return sec
	}
	dates := make([]time.Time, len(days))
	vals := make([]float64, len(days))
	for i, d := range days {
		dates[i] = d.Date
		vals[i] = nan(d.PriceUSD.Float64, d.PriceUSD.Valid)
	}
	c = lineChart(c, dates, "USD per STX", []series{{Name: "close (USD)", Color: cPrice, Values: vals}}, func(i int) string {
		d := days[i]
		switch {
		case !d.PriceUSD.Valid:
			return fmtDate(d.Date) + ": no price"
		case d.IsFilled:
			return fmt.Sprintf("%s: %s USD (filled from %s)", fmtDate(d.Date), fmtNum(d.PriceUSD.Float64), fmtDate(d.SourceDate.Time))
		default:
			return fmt.Sprintf("%s: %s USD", fmtDate(d.Date), fmtNum(d.PriceUSD.Float64))
		}
	})
	// Mark filled days, recomputing the line's geometry.
	f := defaultFrame(c.W, c.H)
	maxV := 0.0
	for _, v := range vals {
		if !math.IsNaN(v) {
			maxV = math.Max(maxV, v)
		}
	}
	top, _ := yScale(maxV)
	for i, d := range days {
		if d.IsFilled && d.PriceUSD.Valid {
			x := f.L + f.W/2
			if len(days) > 1 {
				x = f.L + f.W*float64(i)/float64(len(days)-1)
			}
			c.Circles = append(c.Circles, svgCircle{X: x, Y: f.bottom() - f.H*d.PriceUSD.Float64/top, R: 2.5, Fill: cReturning})
		}
	}
	c.Legend = append(c.Legend, legendItem{Color: cReturning, Label: "forward-filled day"})
	sec.Charts = []chart{c}
	return sec
}

func acquisitionSection(in pageInput) section {
	t := &table{
		ID:      "table-acquisition",
		Caption: fmt.Sprintf("Top %d first transactions of wallets first seen %s – %s", len(in.panels.Acquisition), fmtDate(in.summary.Period.HistoryStart), fmtDate(in.summary.Period.DataEndDate)),
		Head:    []cell{{Text: "first tx type"}, {Text: "contract"}, {Text: "function"}, {Text: "wallets", Num: true}, {Text: "share", Num: true}},
	}
	for _, a := range in.panels.Acquisition {
		t.Rows = append(t.Rows, []cell{
			{Text: a.TxType},
			{Text: orDash(a.ContractID.String, a.ContractID.Valid), Code: a.ContractID.Valid},
			{Text: orDash(a.FunctionName.String, a.FunctionName.Valid), Code: a.FunctionName.Valid},
			{Text: fmtInt(a.Wallets), Num: true},
			{Text: fmtPct(a.Share), Num: true},
		})
	}
	return section{
		Panel: "acquisition",
		Title: "Acquisition: first transactions",
		Intro: "The transaction that first brought each wallet in (type, contract and function), for segmenting cohorts by app or airdrop. Contract ids and function names are shown as stored on chain.",
		Table: t,
	}
}

func orDash(s string, ok bool) string {
	if !ok {
		return "—"
	}
	return s
}
