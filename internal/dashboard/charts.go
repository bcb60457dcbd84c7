package dashboard

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The charts are drawn in Go as SVG primitives with fixed geometry, so the
// page needs no charting library, opens offline, renders identically in
// every browser and is byte-for-byte reproducible (golden files). The
// template only emits the primitives; every text goes through html/template.

type svgRect struct {
	X, Y, W, H float64
	Fill       string
	Class      string // "mark" for data marks (counted by the page's check)
	Tip        string // <title> tooltip; "" for none
}

type svgLine struct {
	X1, Y1, X2, Y2 float64
	Class          string
}

type svgPath struct {
	D, Stroke, Dash, Class string
	Width                  float64
}

type svgCircle struct {
	X, Y, R float64
	Fill    string
	Tip     string
}

type svgText struct {
	X, Y   float64
	Anchor string // start | middle | end
	Class  string
	Text   string
	Rotate bool // -90° around (X, Y), for y-axis titles
	Fill   string
}

type legendItem struct {
	Color, Label string
	Dash         bool
}

// chart is one figure: a titled SVG plus its caption data.
type chart struct {
	ID       string // deterministic DOM id
	Title    string
	Subtitle string // the data's date range and population
	Note     string // how to read it; definitions
	W, H     int
	Wide     bool // spans the full page width
	Rects    []svgRect
	Lines    []svgLine
	Paths    []svgPath
	Circles  []svgCircle
	Texts    []svgText
	Hover    []svgRect // transparent, on top, carrying tooltips
	Legend   []legendItem
	Empty    string // shown instead of marks when there is no data
	Marks    int
}

// geometry of the plot area inside the SVG.
type frame struct{ L, T, W, H float64 }

func (f frame) bottom() float64 { return f.T + f.H }
func (f frame) right() float64  { return f.L + f.W }

const (
	chartW = 640
	chartH = 300
)

func defaultFrame(w, h int) frame {
	return frame{L: 70, T: 14, W: float64(w) - 70 - 18, H: float64(h) - 14 - 52}
}

// niceStep picks a 1/2/5×10^k tick step so that [0, max] gets about n ticks.
func niceStep(max float64, n int) float64 {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// yScale returns the axis top and step for values up to max.
func yScale(max float64) (top, step float64) {
	step = niceStep(max, 5)
	top = math.Ceil(max/step) * step
	if top <= 0 {
		top = step
	}
	return top, step
}

// fmtTick formats an axis value: k/M suffixes for large numbers, enough
// decimals for small steps.
func fmtTick(v, step float64) string {
	if v == 0 {
		return "0"
	}
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if step >= u.div {
			return trimZeros(strconv.FormatFloat(v/u.div, 'f', decimals(step/u.div), 64)) + u.suffix
		}
	}
	return strconv.FormatFloat(v, 'f', decimals(step), 64)
}

func decimals(step float64) int {
	if step >= 1 {
		if step == math.Trunc(step) {
			return 0
		}
		return 1
	}
	d := int(math.Ceil(-math.Log10(step)))
	if s := step * math.Pow(10, float64(d)); math.Abs(s-math.Round(s)) > 1e-9 {
		d++
	}
	return d
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fmtInt renders an integer with thousands separators.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtNum renders a measured amount with 2 significant decimals beyond its
// magnitude (fees are tiny, transfers are huge).
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1e12:
		return strconv.FormatFloat(v/1e12, 'f', 2, 64) + "T"
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "B"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case a >= 1e4:
		return fmtInt(int64(math.Round(v)))
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		d := int(math.Ceil(-math.Log10(a))) + 2
		return strconv.FormatFloat(v, 'f', min(d, 8), 64)
	}
}

func fmtPct(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }

func fmtDate(t time.Time) string { return t.Format(time.DateOnly) }

// dateTick is one labelled date on a time axis.
type dateTick struct {
	Date  time.Time
	Label string
}

// dateTicks picks calendar-aligned ticks between first and last: days,
// Mondays, month starts or quarter starts, depending on the span. Month
// ticks name the year only on the first tick and in January, so a year of
// labels fits a chart's width.
func dateTicks(first, last time.Time) []dateTick {
	days, layout := dayTicks(first, last)
	out := make([]dateTick, len(days))
	for i, d := range days {
		l := d.Format(layout)
		if layout == "Jan" && (i == 0 || d.Month() == time.January) {
			l = d.Format("Jan 2006")
		}
		out[i] = dateTick{Date: d, Label: l}
	}
	return out
}

func dayTicks(first, last time.Time) (ticks []time.Time, layout string) {
	span := int(last.Sub(first).Hours() / 24)
	switch {
	case span <= 14:
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			ticks = append(ticks, d)
		}
		return ticks, "Jan 2"
	case span <= 100:
		d := first
		for d.Weekday() != time.Monday {
			d = d.AddDate(0, 0, 1)
		}
		step := 7
		if span > 50 {
			step = 14
		}
		for ; !d.After(last); d = d.AddDate(0, 0, step) {
			ticks = append(ticks, d)
		}
		return ticks, "Jan 2"
	default:
		months := 1
		if span > 400 {
			months = 3
		}
		d := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
		if d.Before(first) {
			d = d.AddDate(0, 1, 0)
		}
		for ; !d.After(last); d = d.AddDate(0, 1, 0) {
			if months == 1 || (int(d.Month())-1)%3 == 0 {
				ticks = append(ticks, d)
			}
		}
		if months == 3 {
			return ticks, "Jan 2006"
		}
		return ticks, "Jan"
	}
}

// series is one line of a line chart; NaN values are gaps.
type series struct {
	Name, Color string
	Dash        bool
	Values      []float64
}

// lineChart draws series over consecutive UTC days. tip(i) describes day i
// for its hover column.
func lineChart(c chart, dates []time.Time, yTitle string, ss []series, tip func(i int) string) chart {
	if c.W == 0 {
		c.W, c.H = chartW, chartH
	}
	f := defaultFrame(c.W, c.H)
	n := len(dates)
	if n == 0 {
		c.Empty = "No data in range."
		return c
	}
	maxV := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			if !math.IsNaN(v) && v > maxV {
				maxV = v
			}
		}
	}
	top, step := yScale(maxV)
	x := func(i int) float64 {
		if n == 1 {
			return f.L + f.W/2
		}
		return f.L + f.W*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return f.bottom() - f.H*v/top }
	c.yAxis(f, top, step, yTitle)
	c.dateAxis(f, dates, x)
	for _, s := range ss {
		var b strings.Builder
		pen := false
		points := 0
		for i, v := range s.Values {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			if pen {
				b.WriteString("L")
			} else {
				b.WriteString("M")
			}
			b.WriteString(coord(x(i)) + " " + coord(y(v)))
			pen = true
			points++
		}
		if points == 1 { // a single point draws nothing as a path
			for i, v := range s.Values {
				if !math.IsNaN(v) {
					c.Circles = append(c.Circles, svgCircle{X: x(i), Y: y(v), R: 2.5, Fill: s.Color})
				}
			}
		}
		if points > 0 {
			c.Paths = append(c.Paths, svgPath{D: b.String(), Stroke: s.Color, Dash: dashOf(s.Dash), Class: "mark", Width: 1.6})
			c.Marks++
		}
		c.Legend = append(c.Legend, legendItem{Color: s.Color, Label: s.Name, Dash: s.Dash})
	}
	for i := range dates {
		lo, hi := f.L, f.right()
		if i > 0 {
			lo = (x(i-1) + x(i)) / 2
		}
		if i < n-1 {
			hi = (x(i) + x(i+1)) / 2
		}
		c.Hover = append(c.Hover, svgRect{X: lo, Y: f.T, W: hi - lo, H: f.H, Tip: tip(i)})
	}
	if c.Marks == 0 {
		c.Empty = "No values in range."
	}
	return c
}

func dashOf(d bool) string {
	if d {
		return "5 3"
	}
	return ""
}

// coord formats an SVG coordinate with one decimal: enough for the eye,
// short, and stable across platforms.
func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (c *chart) yAxis(f frame, top, step float64, title string) {
	for v := 0.0; v <= top+step/2; v += step {
		y := f.bottom() - f.H*v/top
		c.Lines = append(c.Lines, svgLine{X1: f.L, Y1: y, X2: f.right(), Y2: y, Class: "grid"})
		c.Texts = append(c.Texts, svgText{X: f.L - 6, Y: y + 4, Anchor: "end", Class: "tick", Text: fmtTick(v, step)})
	}
	c.Lines = append(c.Lines, svgLine{X1: f.L, Y1: f.T, X2: f.L, Y2: f.bottom(), Class: "axis"})
	c.Texts = append(c.Texts, svgText{X: 16, Y: f.T + f.H/2, Anchor: "middle", Class: "axis-title", Text: title, Rotate: true})
}

func (c *chart) dateAxis(f frame, dates []time.Time, x func(int) float64) {
	c.Lines = append(c.Lines, svgLine{X1: f.L, Y1: f.bottom(), X2: f.right(), Y2: f.bottom(), Class: "axis"})
	// Labels that would overlap the one before are left out (the tick mark
	// stays); a label that names the year wins over the one before it.
	var labels []svgText
	var spans [][2]float64 // left and right edge of each kept label
	for _, t := range dateTicks(dates[0], dates[len(dates)-1]) {
		i := int(t.Date.Sub(dates[0]).Hours() / 24)
		c.Lines = append(c.Lines, svgLine{X1: x(i), Y1: f.bottom(), X2: x(i), Y2: f.bottom() + 4, Class: "axis"})
		anchor, w := "middle", tickLabelWidth(t.Label)
		left, right := x(i)-w/2, x(i)+w/2
		if x(i) > f.right()-24 { // keep the last label inside the drawing
			anchor, left, right = "end", x(i)-w, x(i)
		}
		label := svgText{X: x(i), Y: f.bottom() + 17, Anchor: anchor, Class: "tick", Text: t.Label}
		if n := len(spans); n > 0 && left < spans[n-1][1]+labelGap {
			if !hasYear(t.Label) || hasYear(labels[n-1].Text) || (n > 1 && left < spans[n-2][1]+labelGap) {
				continue
			}
			labels, spans = labels[:n-1], spans[:n-1]
		}
		labels, spans = append(labels, label), append(spans, [2]float64{left, right})
	}
	c.Texts = append(c.Texts, labels...)
	c.Texts = append(c.Texts, svgText{X: f.L + f.W/2, Y: f.bottom() + 38, Anchor: "middle", Class: "axis-title", Text: "UTC date"})
}

// labelGap is the least room between two tick labels, in pixels.
const labelGap = 6

// tickLabelWidth estimates a tick label's width in pixels: the page sets
// tick text at 11 px in a system sans-serif, about 6.2 px a character
// (digits and capitals run wider than the average).
func tickLabelWidth(s string) float64 { return 6.2 * float64(len([]rune(s))) }

// hasYear reports whether a date label names the year ("Jan 2026").
func hasYear(s string) bool {
	f := strings.Fields(s)
	if len(f) == 0 {
		return false
	}
	y := f[len(f)-1]
	return len(y) == 4 && strings.Trim(y, "0123456789") == ""
}

// barGroup is one colour of a grouped (or stacked) bar chart; NaN = no value.
type barGroup struct {
	Name, Color string
	Values      []float64
}

// barChart draws vertical bars per category, grouped side by side or
// stacked. tip(g, i) describes bar g of category i.
func barChart(c chart, cats []string, xTitle, yTitle string, gs []barGroup, stacked bool, tip func(g, i int) string) chart {
	if c.W == 0 {
		c.W, c.H = chartW, chartH
	}
	f := defaultFrame(c.W, c.H)
	if len(cats) == 0 {
		c.Empty = "No data in range."
		return c
	}
	maxV := 0.0
	for i := range cats {
		sum := 0.0
		for _, g := range gs {
			v := g.Values[i]
			if math.IsNaN(v) {
				continue
			}
			if stacked {
				sum += v
			} else {
				maxV = math.Max(maxV, v)
			}
		}
		maxV = math.Max(maxV, sum)
	}
	top, step := yScale(maxV)
	c.yAxis(f, top, step, yTitle)
	c.Lines = append(c.Lines, svgLine{X1: f.L, Y1: f.bottom(), X2: f.right(), Y2: f.bottom(), Class: "axis"})
	slot := f.W / float64(len(cats))
	barW := slot * 0.7
	if !stacked {
		barW /= float64(len(gs))
	}
	for i, cat := range cats {
		x0 := f.L + slot*float64(i) + slot*0.15
		c.Texts = append(c.Texts, svgText{X: f.L + slot*(float64(i)+0.5), Y: f.bottom() + 17, Anchor: "middle", Class: "tick", Text: cat})
		base := 0.0
		for g, grp := range gs {
			v := grp.Values[i]
			if math.IsNaN(v) {
				continue
			}
			h := f.H * v / top
			x := x0 + barW*float64(g)
			y := f.bottom() - h
			if stacked {
				x = x0
				y = f.bottom() - f.H*(base+v)/top
				base += v
			}
			c.Rects = append(c.Rects, svgRect{X: x, Y: y, W: barW, H: h, Fill: grp.Color, Class: "mark", Tip: tip(g, i)})
			c.Marks++
		}
	}
	for _, g := range gs {
		c.Legend = append(c.Legend, legendItem{Color: g.Color, Label: g.Name})
	}
	c.Texts = append(c.Texts, svgText{X: f.L + f.W/2, Y: f.bottom() + 38, Anchor: "middle", Class: "axis-title", Text: xTitle})
	if c.Marks == 0 {
		c.Empty = "No eligible wallets yet: every wallet is right-censored for these windows."
	}
	return c
}

// hbar is one step of a horizontal bar (funnel) chart.
type hbar struct {
	Label string
	Value int64
	Of    int64 // the denominator for the share label (0 = none)
	Tip   string
}

// hbarChart draws one horizontal bar per step, scaled to the largest.
func hbarChart(c chart, bars []hbar, color, xTitle string) chart {
	rowH := 34.0
	c.W = chartW
	c.H = int(rowH*float64(len(bars))) + 56
	f := frame{L: 220, T: 10, W: float64(c.W) - 220 - 110, H: rowH * float64(len(bars))}
	var maxV int64
	for _, b := range bars {
		maxV = max(maxV, b.Value)
	}
	if len(bars) == 0 || bars[0].Of == 0 {
		c.Empty = "No wallet is eligible yet (the window is not fully observed for anyone)."
	}
	top, step := yScale(float64(maxV))
	for v := 0.0; v <= top+step/2; v += step {
		x := f.L + f.W*v/top
		c.Lines = append(c.Lines, svgLine{X1: x, Y1: f.T, X2: x, Y2: f.bottom(), Class: "grid"})
		c.Texts = append(c.Texts, svgText{X: x, Y: f.bottom() + 15, Anchor: "middle", Class: "tick", Text: fmtTick(v, step)})
	}
	c.Texts = append(c.Texts, svgText{X: f.L + f.W/2, Y: f.bottom() + 36, Anchor: "middle", Class: "axis-title", Text: xTitle})
	c.Lines = append(c.Lines, svgLine{X1: f.L, Y1: f.T, X2: f.L, Y2: f.bottom(), Class: "axis"})
	for i, b := range bars {
		y := f.T + rowH*float64(i)
		c.Texts = append(c.Texts, svgText{X: f.L - 8, Y: y + rowH/2 + 4, Anchor: "end", Class: "label", Text: b.Label})
		w := 0.0
		if top > 0 {
			w = f.W * float64(b.Value) / top
		}
		if c.Empty == "" {
			c.Rects = append(c.Rects, svgRect{X: f.L, Y: y + 5, W: w, H: rowH - 10, Fill: color, Class: "mark", Tip: b.Tip})
			c.Marks++
			label := fmtInt(b.Value)
			if b.Of > 0 {
				label += " (" + fmtPct(float64(b.Value)/float64(b.Of)) + ")"
			}
			c.Texts = append(c.Texts, svgText{X: f.L + w + 6, Y: y + rowH/2 + 4, Anchor: "start", Class: "value", Text: label})
		}
	}
	return c
}

// retentionColor maps a share in [0, 1] to a blue ramp; the square root
// spreads the low retention values where most cells are.
func retentionColor(r float64) (fill string, dark bool) {
	t := math.Sqrt(math.Max(0, math.Min(1, r)))
	lo := [3]float64{0xf1, 0xf5, 0xfb}
	hi := [3]float64{0x08, 0x30, 0x6b}
	var rgb [3]int
	for i := range rgb {
		rgb[i] = int(math.Round(lo[i] + (hi[i]-lo[i])*t))
	}
	return fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]), t > 0.55
}
