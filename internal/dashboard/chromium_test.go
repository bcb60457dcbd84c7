package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/dashboard"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/prices"
)

// chromium returns the browser binary, skipping the test when it is absent,
// unless CI=true, where a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); it is required when CI=true")
	}
	t.Skip("chromium not installed; skipping the browser test (set CI=true to make this a failure)")
	return ""
}

// runChromium runs headless Chromium with networking off: no background
// services, every host name resolving to nothing and a proxy that does not
// exist, so any request the page tried would fail instead of leaving.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func dumpDOM(t *testing.T, bin, page string) string {
	t.Helper()
	return string(runChromium(t, bin, "--virtual-time-budget=5000", "--dump-dom", "file://"+page))
}

var (
	reRoot  = regexp.MustCompile(`<html[^>]*>`)
	reAttr  = func(name string) *regexp.Regexp { return regexp.MustCompile(` ` + name + `="([^"]*)"`) }
	reFig   = regexp.MustCompile(`<figure[^>]*class="chart[^"]*"[^>]*>`)
	reDrawn = regexp.MustCompile(`data-drawn="([a-z]*)"`)
)

type domReport struct {
	render, errors      string
	charts, drawn       int
	notDrawn            []string
	scripts, images     int
	figures, figuresSet int
}

func inspect(dom string) domReport {
	root := reRoot.FindString(dom)
	attr := func(name string) string {
		if m := reAttr(name).FindStringSubmatch(root); m != nil {
			return m[1]
		}
		return ""
	}
	r := domReport{render: attr("data-render"), errors: attr("data-script-errors")}
	r.charts, _ = strconv.Atoi(attr("data-charts"))
	r.drawn, _ = strconv.Atoi(attr("data-charts-drawn"))
	for _, fig := range reFig.FindAllString(dom, -1) {
		r.figures++
		if m := reDrawn.FindStringSubmatch(fig); m != nil {
			r.figuresSet++
			if m[1] != "true" {
				r.notDrawn = append(r.notDrawn, reAttr("id").FindStringSubmatch(fig)[1])
			}
		}
	}
	r.scripts = strings.Count(strings.ToLower(dom), "<script")
	r.images = strings.Count(strings.ToLower(dom), "<img")
	return r
}

// TestChromiumRendersEveryChart opens the built page in headless Chromium,
// offline, and asserts from the DOM that every chart drew and no script
// error happened. Two broken variants of the page prove the checks can fail.
func TestChromiumRendersEveryChart(t *testing.T) {
	bin := chromium(t)
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	out := t.TempDir()
	if _, err := dashboard.Build(context.Background(), db, goldenOptions(t, cfg, out)); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(out, dashboard.IndexFile)
	r := inspect(dumpDOM(t, bin, page))
	const wantCharts = 14
	if r.render != "done" || r.errors != "" || r.charts != wantCharts || r.drawn != wantCharts ||
		r.figures != wantCharts || r.figuresSet != wantCharts || len(r.notDrawn) > 0 {
		t.Fatalf("page did not render cleanly: %+v (want %d charts drawn, render=done, no errors)", r, wantCharts)
	}
	// Hostile chain strings stayed text in the live DOM too.
	if r.scripts != 1 || r.images != 0 {
		t.Errorf("live DOM has %d scripts and %d images, want 1 and 0", r.scripts, r.images)
	}

	raw, _ := os.ReadFile(page)
	html := string(raw)

	// Negative control 1: a chart whose drawing is gone must be reported.
	broken := regexp.MustCompile(`(?s)(<figure[^>]*id="chart-cumulative"[^>]*>.*?<svg[^>]*>).*?(</svg>)`).
		ReplaceAllString(html, "$1$2")
	bp := filepath.Join(out, "broken.html")
	os.WriteFile(bp, []byte(broken), 0o644)
	if r := inspect(dumpDOM(t, bin, bp)); r.render != "incomplete" || len(r.notDrawn) != 1 || r.notDrawn[0] != "chart-cumulative" {
		t.Errorf("an empty chart went unnoticed: %+v", r)
	}

	// Negative control 2: a script error after the check must be recorded.
	// (The CSP would block a foreign script, so this variant drops it.)
	erroring := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`).ReplaceAllString(html, "")
	erroring = strings.Replace(erroring, "</body>", "<script>window.noSuchFunction();</script></body>", 1)
	ep := filepath.Join(out, "erroring.html")
	os.WriteFile(ep, []byte(erroring), 0o644)
	if r := inspect(dumpDOM(t, bin, ep)); r.render != "error" || !strings.Contains(r.errors, "noSuchFunction") {
		t.Errorf("a script error went unnoticed: %+v", r)
	}
}

// TestScreenshot writes the commit-ready picture of a demo-sized simulated
// chain: DASHBOARD_SCREENSHOT=/abs/path/dashboard.png go test -run TestScreenshot.
func TestScreenshot(t *testing.T) {
	dst := os.Getenv("DASHBOARD_SCREENSHOT")
	if dst == "" {
		t.Skip("set DASHBOARD_SCREENSHOT=<png path> to write the screenshot")
	}
	bin := chromium(t)
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	var txs []chain.Tx
	hirosim.Generate(hirosim.Config{Seed: 2026, Now: now, History: 366 * 24 * time.Hour, TxPerTenure: 2.5, PlausibleFees: true},
		func(tx chain.Tx) bool { txs = append(txs, tx); return true })
	db := loadChain(t, txs)
	first := day(txs[0].BlockTime)
	skip := map[time.Time]bool{}
	for i := 200; i < 204; i++ {
		skip[first.AddDate(0, 0, i)] = true
	}
	srv := newGecko(t, first.AddDate(0, 0, -3), day(now), skip)
	out := t.TempDir()
	res, err := dashboard.Build(context.Background(), db, dashboard.Options{
		Dir: out, FirstSeenParquet: filepath.Join(out, "first_seen_wallets.parquet"), Windows: windows, MaxDays: 365, Now: func() time.Time { return now }, BuiltAt: now,
		Coverage: dashboard.Coverage{Known: true, Percent: 100, TargetDays: 365},
		Prices:   prices.Config{Source: prices.SourceCoinGecko, BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("demo chain: %d rows, %d wallets, %s..%s", len(txs), res.ActiveWallets, res.Period.HistoryStart.Format(time.DateOnly), res.Period.DataEndDate.Format(time.DateOnly))
	abs, err := filepath.Abs(dst)
	if err != nil {
		t.Fatal(err)
	}
	runChromium(t, bin, "--hide-scrollbars", "--screenshot="+abs, "--window-size=1400,3000", "--virtual-time-budget=5000",
		"file://"+filepath.Join(out, dashboard.IndexFile))
	if st, err := os.Stat(abs); err != nil || st.Size() < 10000 {
		t.Fatalf("screenshot %s: %v", abs, err)
	}
}
