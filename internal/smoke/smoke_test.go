package smoke_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/dashboard"
	"github.com/stxwallets/walletcache/internal/smoke"
	"github.com/stxwallets/walletcache/internal/wallets/walletstest"
)

var checkNames = []string{
	"panel files", "active = new + returning", "week 0 retention = 100 %",
	"retention cells observed only when complete", "eligible + censored = wallets", "funnels within eligible",
	"no NaN/Inf", "first-seen parquet: one row per wallet", "new wallets = first-seen wallets",
	"cohort sizes = first-seen wallets", "index.html names every panel",
}

// built holds one set of real artifacts that each case copies and breaks.
type built struct{ dir, parquet string }

func build(t *testing.T) built {
	t.Helper()
	ctx := context.Background()
	db := walletstest.NewDB(t)
	cfg := walletstest.Small(99)
	cfg.Hostile = true
	if err := walletstest.Load(ctx, db, walletstest.Generate(cfg)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := cfg.Start.AddDate(0, 0, cfg.Days-1).Add(12 * time.Hour)
	res, err := dashboard.Build(ctx, db, dashboard.Options{Dir: dir, FirstSeenParquet: filepath.Join(dir, "cache", "fs.parquet"),
		Windows: []int{15, 30, 60, 90}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return built{dir: res.Dir, parquet: res.FirstSeenParquet}
}

func (b built) copy(t *testing.T) built {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(b.dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.dir, path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return built{dir: dst, parquet: filepath.Join(dst, "cache", "fs.parquet")}
}

func TestCheckPassesOnBuiltDashboards(t *testing.T) {
	b := build(t)
	rep, err := smoke.Check(context.Background(), smoke.Inputs{Dir: b.dir, FirstSeenParquet: b.parquet, Windows: []int{90, 15, 60, 30}})
	if err != nil {
		t.Fatalf("%v\n%s", err, rep)
	}
	t.Log("\n" + rep.String())
	if len(rep.Checks) != len(checkNames) {
		t.Fatalf("%d checks, want %d:\n%s", len(rep.Checks), len(checkNames), rep)
	}
	for i, c := range rep.Checks {
		if c.Name != checkNames[i] || !c.OK || c.Detail == "" {
			t.Errorf("check %d = %+v, want %q passing with a detail", i, c, checkNames[i])
		}
	}
	if !strings.Contains(rep.String(), "PASS first-seen parquet: one row per wallet: ") {
		t.Errorf("report text:\n%s", rep)
	}
}

// editCSV rewrites one panel file through fn.
func editCSV(t *testing.T, dir, panel string, fn func(recs [][]string) [][]string) {
	t.Helper()
	path := filepath.Join(dir, "panels", panel+".csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	recs = fn(recs)
	out, _ := os.Create(path)
	w := csv.NewWriter(out)
	w.WriteAll(recs)
	out.Close()
}

func col(recs [][]string, name string) int {
	for i, h := range recs[0] {
		if h == name {
			return i
		}
	}
	panic("no column " + name)
}

func editFile(t *testing.T, path string, fn func(string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(fn(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCatchesBreakage(t *testing.T) {
	orig := build(t)
	cases := []struct {
		name      string
		breakIt   func(t *testing.T, b built)
		windows   []int
		wantCheck string
		wantIn    string // detail must name the numbers
	}{
		{"missing panel", func(t *testing.T, b built) { os.Remove(filepath.Join(b.dir, "panels", "funnel.csv")) },
			nil, "panel files", "funnel.csv"},
		{"header-only panel", func(t *testing.T, b built) {
			editCSV(t, b.dir, "prices", func(r [][]string) [][]string { return r[:1] })
		}, nil, "panel files", "prices.csv has no data rows"},
		{"missing column", func(t *testing.T, b built) {
			editCSV(t, b.dir, "daily_wallets", func(r [][]string) [][]string { r[0][col(r, "mau_30d")] = "mau"; return r })
		}, nil, "panel files", "lacks columns mau_30d"},
		{"identity broken", func(t *testing.T, b built) {
			editCSV(t, b.dir, "daily_wallets", func(r [][]string) [][]string {
				r[10][col(r, "returning_wallets")] = "999999"
				return r
			})
		}, nil, "active = new + returning", "returning 999999"},
		{"week 0 below 100%", func(t *testing.T, b built) {
			editCSV(t, b.dir, "cohort_retention", func(r [][]string) [][]string { r[1][col(r, "retention")] = "0.9"; return r })
		}, nil, "week 0 retention = 100 %", `week 0 retention "0.9"`},
		{"unobserved cell filled", func(t *testing.T, b built) {
			editCSV(t, b.dir, "cohort_retention", func(r [][]string) [][]string {
				last := r[len(r)-1] // the newest cohort's last column is never observed
				last[col(r, "retention")], last[col(r, "active_wallets")] = "0", "0"
				return r
			})
		}, nil, "retention cells observed only when complete", `but retention is "0"`},
		{"eligibility lost a wallet", func(t *testing.T, b built) {
			editCSV(t, b.dir, "value_windows", func(r [][]string) [][]string {
				c := col(r, "eligible_wallets")
				r[2][c] = r[2][c] + "0"
				return r
			})
		}, nil, "eligible + censored = wallets", "30-day window"},
		{"window missing", func(t *testing.T, b built) {}, []int{15, 30, 45}, "eligible + censored = wallets", "configured [15 30 45]"},
		{"strict funnel grows", func(t *testing.T, b built) {
			editCSV(t, b.dir, "funnel", func(r [][]string) [][]string {
				for _, row := range r[1:] {
					if row[0] == "active_strict_90d" && row[1] == "4" {
						row[col(r, "wallets")] = row[col(r, "eligible_wallets")]
					}
				}
				return r
			})
		}, nil, "funnels within eligible", "active_strict_90d step 4 grows"},
		{"NaN in a panel", func(t *testing.T, b built) {
			editCSV(t, b.dir, "value_windows", func(r [][]string) [][]string { r[1][col(r, "fees_stx_p90")] = "NaN"; return r })
		}, nil, "no NaN/Inf", `fees_stx_p90 = "NaN"`},
		{"Inf in the page", func(t *testing.T, b built) {
			editFile(t, filepath.Join(b.dir, "index.html"), func(s string) string {
				return strings.Replace(s, `<line x1="`, `<line x1="+Inf" data-x="`, 1)
			})
		}, nil, "no NaN/Inf", "non-finite coordinate"},
		{"cohort size off", func(t *testing.T, b built) {
			editCSV(t, b.dir, "cohort_retention", func(r [][]string) [][]string {
				week := r[1][col(r, "cohort_week")]
				for _, row := range r[1:] {
					if row[col(r, "cohort_week")] == week {
						row[col(r, "cohort_size")] = "1"
						row[col(r, "active_wallets")] = map[bool]string{true: "1", false: row[col(r, "active_wallets")]}[row[col(r, "week_index")] == "0"]
					}
				}
				return r
			})
		}, nil, "cohort sizes = first-seen wallets", "size 1 in cohort_retention.csv"},
		{"duplicate wallet in parquet", func(t *testing.T, b built) {
			db, err := sql.Open("duckdb", "")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			tmp := b.parquet + ".dup"
			_, err = db.Exec(`COPY (SELECT * FROM read_parquet('` + b.parquet + `') UNION ALL
				(SELECT * FROM read_parquet('` + b.parquet + `') WHERE receive_only LIMIT 1)) TO '` + tmp + `' (FORMAT parquet)`)
			if err != nil {
				t.Fatal(err)
			}
			os.Rename(tmp, b.parquet)
		}, nil, "first-seen parquet: one row per wallet", "appears more than once"},
		{"parquet missing", func(t *testing.T, b built) { os.Remove(b.parquet) }, nil, "first-seen parquet", "no such file"},
		{"cohort panel empty though weeks are complete", func(t *testing.T, b built) {
			editCSV(t, b.dir, "cohort_retention", func(r [][]string) [][]string { return r[:1] })
		}, nil, "panel files", "though the data holds the complete cohort week of"},
		{"panel not on the page", func(t *testing.T, b built) {
			editFile(t, filepath.Join(b.dir, "index.html"), func(s string) string {
				return strings.ReplaceAll(s, `data-panel="value_windows"`, `data-panel="other"`)
			})
		}, nil, "index.html names every panel", "no section for value_windows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := orig.copy(t)
			tc.breakIt(t, b)
			rep, err := smoke.Check(context.Background(), smoke.Inputs{Dir: b.dir, FirstSeenParquet: b.parquet, Windows: tc.windows})
			var fe *smoke.FailedError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FailedError\n%s", err, rep)
			}
			var hit bool
			for _, c := range fe.Failed {
				if c.Name == tc.wantCheck {
					hit = true
					if !strings.Contains(c.Detail, tc.wantIn) {
						t.Errorf("detail %q does not mention %q", c.Detail, tc.wantIn)
					}
				}
			}
			if !hit {
				t.Fatalf("check %q did not fail:\n%s", tc.wantCheck, rep)
			}
			if !strings.Contains(err.Error(), tc.wantCheck) {
				t.Errorf("error %q does not name the check", err)
			}
		})
	}
}
