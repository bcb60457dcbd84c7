package policy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// writePolicy writes a policy file into a fresh folder and returns its path.
func writePolicy(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backfill.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// env turns a map into a getenv function.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// resolved is Default() as Load returns it for a file at path.
func resolved(path string) Policy {
	p := Default()
	p.File = path
	p.Dir = filepath.Dir(path)
	p.resolvePaths(p.Dir)
	return p
}

// mustBadInput checks that err is a policy error with exit code 2.
func mustBadInput(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	if code := exitcode.Of(err); code != exitcode.BadInput {
		t.Errorf("exit code = %d, want %d (BadInput); err: %v", code, exitcode.BadInput, err)
	}
}

func TestDefaultIsValid(t *testing.T) {
	p := Default()
	if err := p.validate(); err != nil {
		t.Fatalf("Default().validate() = %v", err)
	}
	// Spot-check the documented defaults (backfill.yaml, docs/design.md).
	checks := []struct {
		name      string
		got, want any
	}{
		{"base_url", p.Source.BaseURL, "https://api.hiro.so"},
		{"api", p.Source.API, "auto"},
		{"requests_per_minute", p.Source.RequestsPerMinute, 50},
		{"requests_per_second", p.Source.RequestsPerSecond, 20},
		{"concurrency", p.Source.Concurrency, 4},
		{"timeout", p.Source.Timeout, 30 * time.Second},
		{"max_retries", p.Source.MaxRetries, 8},
		{"max_wait", p.Source.MaxWait, 15 * time.Minute},
		{"target_days", p.Horizon.TargetDays, 365},
		{"settle_minutes", p.Horizon.SettleMinutes, 120},
		{"max_pages", p.Backfill.MaxPages, 5000},
		{"max_iterations", p.Backfill.MaxIterations, 0},
		{"force_refresh", p.Backfill.ForceRefresh, false},
		{"window_minutes", p.Backfill.WindowMinutes, 60},
		{"stall_minutes", p.Backfill.StallMinutes, 10},
		{"min_percent", p.Coverage.MinPercent, 100.0},
		{"raw_days", p.Retention.RawDays, 45},
		{"database", p.Paths.Database, "data/cache/wallet_metrics.duckdb"},
		{"raw_dir", p.Paths.RawDir, "data/raw"},
		{"first_seen_parquet", p.Paths.FirstSeenParquet, "data/cache/wallet_metrics/first_seen_wallets.parquet"},
		{"dashboards_dir", p.Paths.DashboardsDir, "data/dashboards"},
		{"publish_dir", p.Paths.PublishDir, "data/publish"},
		{"wallet_max_days", p.Dashboards.WalletMaxDays, 365},
		{"wallet_windows", p.Dashboards.WalletWindows, []int{15, 30, 60, 90}},
		{"prices.source", p.Dashboards.Prices.Source, "coingecko"},
		{"prices.base_url", p.Dashboards.Prices.BaseURL, "https://api.coingecko.com"},
		{"prices.csv", p.Dashboards.Prices.CSV, ""},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Default must hand out fresh slices: changing one copy must not leak.
	p.Dashboards.WalletWindows[0] = 999
	if Default().Dashboards.WalletWindows[0] != 15 {
		t.Error("Default() shares its wallet_windows slice between calls")
	}
}

// The shipped, commented policy and Default() must never drift apart.
func TestShippedPolicyEqualsDefault(t *testing.T) {
	path, err := filepath.Abs("../../backfill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%s) = %v", path, err)
	}
	want := resolved(path)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("shipped backfill.yaml differs from Default():\n got %+v\nwant %+v", *got, want)
	}
	// Every key of the table must appear in the shipped file, so each one
	// is documented there.
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		leaf := f.key[strings.LastIndex(f.key, ".")+1:]
		if !strings.Contains(string(text), "\n  "+leaf+":") && !strings.Contains(string(text), "\n    "+leaf+":") {
			t.Errorf("shipped backfill.yaml does not set %s", f.key)
		}
	}
}

// A file without a single key is refused (exit 2, with a hint): its
// defaults would start a year-long crawl of the public API.
func TestLoadRefusesAPolicyThatSetsNothing(t *testing.T) {
	for name, text := range map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n\n# at all\n",
		"document mark": "---\n",
		"null document": "~\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := writePolicy(t, text)
			_, err := Load(path, nil)
			mustBadInput(t, err)
			want := filepath.Clean(path) + ": the policy file sets nothing (it is empty or only comments)"
			if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.Contains(msg, "write at least one key") {
				t.Errorf("message %q does not start with %q and give the hint", msg, want)
			}
		})
	}
}

func TestLoadEmptySectionsGiveDefaults(t *testing.T) {
	for name, text := range map[string]string{
		"empty section":  "source:\nhorizon:\n",
		"empty sections": "source: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := writePolicy(t, text)
			got, err := Load(path, nil)
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if want := resolved(path); !reflect.DeepEqual(*got, want) {
				t.Errorf("got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestLoadEveryKey(t *testing.T) {
	path := writePolicy(t, `
source:
  base_url: http://localhost:3999/
  api: v3
  requests_per_minute: 500
  requests_per_second: 10
  concurrency: 8
  timeout: 1m30s
  max_retries: 0
  max_wait: 2m
horizon:
  target_days: 30
  settle_minutes: 0
  recheck_hours: 0
backfill:
  max_pages: 10_000_000
  max_iterations: 3
  force_refresh: true
  window_minutes: 5
  stall_minutes: 1440
  segment_heights: 500
  log_every: 5m
coverage:
  min_percent: 99.5
retention:
  raw_days: 0
paths:
  database: db/x.duckdb
  raw_dir: /var/raw
  first_seen_parquet: ../out/first.parquet
  dashboards_dir: dash
  publish_dir: pub
dashboards:
  wallet_max_days: 3650
  wallet_windows:
    - 1
    - 3650
  prices:
    source: csv
    base_url: https://prices.example
    csv: prices/stx.csv
    days: 7
seed:
  postgres_url: "postgres://reader:hunter2@db.example/stacks"
  postgres_schema: my_schema
  archive_dump: dumps/api.dump
`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	dir := filepath.Dir(path)
	want := Policy{
		Source:    Source{BaseURL: "http://localhost:3999", API: "v3", RequestsPerMinute: 500, RequestsPerSecond: 10, Concurrency: 8, Timeout: 90 * time.Second, MaxRetries: 0, MaxWait: 2 * time.Minute},
		Horizon:   Horizon{TargetDays: 30, SettleMinutes: 0},
		Backfill:  Backfill{MaxPages: 10_000_000, MaxIterations: 3, ForceRefresh: true, WindowMinutes: 5, StallMinutes: 1440, SegmentHeights: 500, LogEvery: 5 * time.Minute},
		Coverage:  Coverage{MinPercent: 99.5},
		Retention: Retention{RawDays: 0},
		Paths: Paths{
			Database:         filepath.Join(dir, "db/x.duckdb"),
			RawDir:           "/var/raw",
			FirstSeenParquet: filepath.Join(filepath.Dir(dir), "out/first.parquet"),
			DashboardsDir:    filepath.Join(dir, "dash"),
			PublishDir:       filepath.Join(dir, "pub"),
		},
		Dashboards: Dashboards{
			WalletMaxDays: 3650,
			WalletWindows: []int{1, 3650},
			Prices:        Prices{Source: "csv", BaseURL: "https://prices.example", CSV: filepath.Join(dir, "prices/stx.csv")},
		},
		Seed: Seed{PostgresURL: "postgres://reader:hunter2@db.example/stacks", PostgresSchema: "my_schema", ArchiveDump: filepath.Join(dir, "dumps/api.dump")},
		File: path,
		Dir:  dir,
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got  %+v\nwant %+v", *got, want)
	}
}

// TestLoadValueErrors covers every range and type rule. Each case's YAML
// starts with a comment line so line numbers are not trivially 1.
func TestLoadValueErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		line    int
		key     string
		allowed string // part of the message that says what is allowed
		got     string // how the bad value is echoed
	}{
		{"rpm word", "source:\n  requests_per_minute: fast\n", 3, "source.requests_per_minute", "a whole number from 1 to 100000", `got "fast"`},
		{"rpm zero", "source:\n  requests_per_minute: 0\n", 3, "source.requests_per_minute", "from 1 to 100000", "got 0"},
		{"rpm high", "source:\n  requests_per_minute: 100001\n", 3, "source.requests_per_minute", "from 1 to 100000", "got 100001"},
		{"rpm float", "source:\n  requests_per_minute: 50.5\n", 3, "source.requests_per_minute", "a whole number", "got 50.5"},
		{"rpm quoted", "source:\n  requests_per_minute: \"50\"\n", 3, "source.requests_per_minute", "a whole number", `got "50"`},
		{"rps zero", "source:\n  requests_per_second: 0\n", 3, "source.requests_per_second", "from 1 to 1000", "got 0"},
		{"rps high", "source:\n  requests_per_second: 1001\n", 3, "source.requests_per_second", "from 1 to 1000", "got 1001"},
		{"concurrency zero", "source:\n  concurrency: 0\n", 3, "source.concurrency", "from 1 to 64", "got 0"},
		{"concurrency high", "source:\n  concurrency: 65\n", 3, "source.concurrency", "from 1 to 64", "got 65"},
		{"timeout short", "source:\n  timeout: 500ms\n", 3, "source.timeout", "a duration from 1s to 10m", `got "500ms"`},
		{"timeout long", "source:\n  timeout: 11m\n", 3, "source.timeout", "a duration from 1s to 10m", `got "11m"`},
		{"timeout no unit", "source:\n  timeout: 30\n", 3, "source.timeout", "a duration", "got 30"},
		{"timeout word", "source:\n  timeout: soon\n", 3, "source.timeout", "a duration", `got "soon"`},
		{"retries negative", "source:\n  max_retries: -1\n", 3, "source.max_retries", "from 0 to 100", "got -1"},
		{"retries high", "source:\n  max_retries: 101\n", 3, "source.max_retries", "from 0 to 100", "got 101"},
		{"max wait zero", "source:\n  max_wait: 0s\n", 3, "source.max_wait", "from 1s to 24h", "got \"0s\""},
		{"max wait a year", "source:\n  max_wait: 8760h\n", 3, "source.max_wait", "from 1s to 24h", "got \"8760h\""},
		{"api", "source:\n  api: v2\n", 3, "source.api", "one of auto, v1, v3", `got "v2"`},
		{"base_url scheme", "source:\n  base_url: ftp://api.hiro.so\n", 3, "source.base_url", "an http:// or https:// URL", `got "ftp://api.hiro.so"`},
		{"base_url bare host", "source:\n  base_url: api.hiro.so\n", 3, "source.base_url", "an http:// or https:// URL", `got "api.hiro.so"`},
		{"base_url no host", "source:\n  base_url: https://\n", 3, "source.base_url", "an http:// or https:// URL", `got "https://"`},
		{"base_url query", "source:\n  base_url: https://x.example/?a=1\n", 3, "source.base_url", "an http:// or https:// URL", `got "https://x.example/?a=1"`},
		{"target_days zero", "horizon:\n  target_days: 0\n", 3, "horizon.target_days", "from 1 to 3650", "got 0"},
		{"target_days high", "horizon:\n  target_days: 3651\n", 3, "horizon.target_days", "from 1 to 3650", "got 3651"},
		{"settle negative", "horizon:\n  settle_minutes: -1\n", 3, "horizon.settle_minutes", "from 0 to 1440", "got -1"},
		{"settle high", "horizon:\n  settle_minutes: 1441\n", 3, "horizon.settle_minutes", "from 0 to 1440", "got 1441"},
		{"max_pages zero", "backfill:\n  max_pages: 0\n", 3, "backfill.max_pages", "from 1 to 10000000", "got 0"},
		{"max_pages high", "backfill:\n  max_pages: 10000001\n", 3, "backfill.max_pages", "from 1 to 10000000", "got 10000001"},
		{"max_iterations negative", "backfill:\n  max_iterations: -1\n", 3, "backfill.max_iterations", "a whole number, 0 or more", "got -1"},
		{"force_refresh word", "backfill:\n  force_refresh: maybe\n", 3, "backfill.force_refresh", "true or false", `got "maybe"`},
		{"force_refresh yes", "backfill:\n  force_refresh: yes\n", 3, "backfill.force_refresh", "true or false", `got "yes"`},
		{"window low", "backfill:\n  window_minutes: 4\n", 3, "backfill.window_minutes", "from 5 to 1440", "got 4"},
		{"window high", "backfill:\n  window_minutes: 1441\n", 3, "backfill.window_minutes", "from 5 to 1440", "got 1441"},
		{"stall zero", "backfill:\n  stall_minutes: 0\n", 3, "backfill.stall_minutes", "from 1 to 1440", "got 0"},
		{"stall high", "backfill:\n  stall_minutes: 1441\n", 3, "backfill.stall_minutes", "from 1 to 1440", "got 1441"},
		{"min_percent negative", "coverage:\n  min_percent: -0.5\n", 3, "coverage.min_percent", "a number from 0 to 100", "got -0.5"},
		{"min_percent high", "coverage:\n  min_percent: 100.5\n", 3, "coverage.min_percent", "a number from 0 to 100", "got 100.5"},
		{"min_percent nan", "coverage:\n  min_percent: .nan\n", 3, "coverage.min_percent", "a number from 0 to 100", "got .nan"},
		{"min_percent word", "coverage:\n  min_percent: all\n", 3, "coverage.min_percent", "a number from 0 to 100", `got "all"`},
		{"raw_days negative", "retention:\n  raw_days: -1\n", 3, "retention.raw_days", "from 0 to 3650", "got -1"},
		{"raw_days high", "retention:\n  raw_days: 3651\n", 3, "retention.raw_days", "from 0 to 3650", "got 3651"},
		{"database empty", "paths:\n  database: \"\"\n", 3, "paths.database", "a file or folder path", `got ""`},
		{"raw_dir null", "paths:\n  raw_dir:\n", 3, "paths.raw_dir", "a file or folder path", "got an empty value"},
		{"raw_dir list", "paths:\n  raw_dir: [a]\n", 3, "paths.raw_dir", "a file or folder path", "got a list"},
		{"wallet_max_days zero", "dashboards:\n  wallet_max_days: 0\n", 3, "dashboards.wallet_max_days", "from 1 to 3650", "got 0"},
		{"wallet_max_days high", "dashboards:\n  wallet_max_days: 3651\n", 3, "dashboards.wallet_max_days", "from 1 to 3650", "got 3651"},
		{"wallet_windows empty", "dashboards:\n  wallet_windows: []\n", 3, "dashboards.wallet_windows", "a non-empty list", "got an empty list"},
		{"wallet_windows scalar", "dashboards:\n  wallet_windows: 15\n", 3, "dashboards.wallet_windows", "a non-empty list", "got 15"},
		{"wallet_windows zero entry", "dashboards:\n  wallet_windows:\n    - 15\n    - 0\n", 5, "dashboards.wallet_windows", "entry 2 must be a whole number from 1 to 3650", "got 0"},
		{"wallet_windows high entry", "dashboards:\n  wallet_windows: [15, 3651]\n", 3, "dashboards.wallet_windows", "entry 2 must be a whole number from 1 to 3650", "got 3651"},
		{"wallet_windows word entry", "dashboards:\n  wallet_windows: [15, a]\n", 3, "dashboards.wallet_windows", "entry 2 must be a whole number", `got "a"`},
		{"wallet_windows repeat", "dashboards:\n  wallet_windows:\n    - 30\n    - 15\n    - 30\n", 6, "dashboards.wallet_windows", "entries must be distinct", "entry 3 repeats 30 (entry 1)"},
		{"prices.source", "dashboards:\n  prices:\n    source: binance\n", 4, "dashboards.prices.source", "one of coingecko, csv, none", `got "binance"`},
		{"prices.base_url", "dashboards:\n  prices:\n    base_url: coingecko\n", 4, "dashboards.prices.base_url", "an http:// or https:// URL", `got "coingecko"`},
		{"prices.csv number", "dashboards:\n  prices:\n    csv: 12\n", 4, "dashboards.prices.csv", "a file path", "got 12"},
		{"csv required (absent)", "dashboards:\n  prices:\n    source: csv\n", 4, "dashboards.prices.csv", "required when dashboards.prices.source is csv", ""},
		{"csv required (empty)", "dashboards:\n  prices:\n    source: csv\n\n    csv: \"\"\n", 6, "dashboards.prices.csv", "required when dashboards.prices.source is csv", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writePolicy(t, "# test policy\n"+tc.yaml)
			p, err := Load(path, nil)
			if p != nil {
				t.Errorf("Load returned a policy along with the error")
			}
			mustBadInput(t, err)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *policy.Error", err)
			}
			if pe.Line != tc.line || pe.Key != tc.key {
				t.Errorf("error at line %d key %q, want line %d key %q (%v)", pe.Line, pe.Key, tc.line, tc.key, err)
			}
			msg := err.Error()
			prefix := filepath.Clean(path) + ":" + strconv.Itoa(tc.line) + ": " + tc.key + ": "
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			for _, want := range []string{tc.allowed, tc.got} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
			if strings.Count(msg, "\n") != 0 {
				t.Errorf("want exactly one problem, got:\n%s", msg)
			}
		})
	}
}

func TestLoadStructureErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, the first one with file:line
	}{
		{"unknown top-level key", "source:\n  api: v1\n\nsourc:\n  api: v1\n", []string{
			`:4: unknown key "sourc" (known keys here: source, horizon, backfill, coverage, retention, paths, dashboards, seed)`,
			`did you mean "source"?`}},
		{"unknown nested key", "source:\n  bse_url: https://x\n", []string{
			`:2: unknown key "source.bse_url" (known keys here: base_url, api, requests_per_minute, requests_per_second, concurrency, timeout, max_retries, max_wait)`,
			`did you mean "base_url"?`}},
		{"unknown deep key", "dashboards:\n  prices:\n    coin: stx\n", []string{
			`:3: unknown key "dashboards.prices.coin" (known keys here: source, base_url, csv)`}},
		{"api key in the file", "source:\n  api_key: abc\n", []string{
			`:2: unknown key "source.api_key"`, "set HIRO_API_KEY in the environment or in .env"}},
		{"duplicate key", "horizon:\n  target_days: 30\n  target_days: 40\n", []string{
			`:3: duplicate key "horizon.target_days" (first set on line 2)`}},
		{"section is a scalar", "source: fast\n", []string{
			`:1: source must be a mapping with the keys base_url, api,`, `got "fast"`}},
		{"root is a list", "- a\n- b\n", []string{
			`:1: the policy must be a mapping with the keys source, horizon,`, "got a list"}},
		{"leaf is a mapping", "horizon:\n  target_days:\n    days: 3\n", []string{
			`:3: horizon.target_days: must be a whole number from 1 to 3650, got a mapping of keys`}},
		{"invalid YAML", "source:\n  api: [v1\nhorizon:\n  target_days: 3\n", []string{
			`:2: source.api: invalid YAML: did not find expected ',' or ']'`}},
		{"a tab for indentation", "horizon:\n\ttarget_days: 3\n", []string{
			`:2: invalid YAML: found character that cannot start any token (the line holds a tab: YAML indents with spaces only)`}},
		{"invalid YAML on line 1", "a: b: c\n", []string{
			`:1: a: invalid YAML: mapping values are not allowed in this context`}},
		{"invalid YAML scanner error", "source:\n  api: v1\n  bad: @x\n", []string{
			`:3: source.bad: invalid YAML: found character that cannot start any token`}},
		{"invalid YAML block mapping", "source:\n  api: v1\n bad: 1\n", []string{
			`:3: source.bad: invalid YAML: did not find expected key`}},
		{"mis-indented key far below the block's start", "source:\n  api: v1\n\nhorizon:\n  # days\n    target_days: 3\n\n  settle_minutes: 60\n", []string{
			`:8: horizon.settle_minutes: invalid YAML: did not find expected key`}},
		{"over-indented key after a value", "source:\n  api: v1\n  timeout: 5s\n   max_wait: 1m\n", []string{
			`:4: source.max_wait: invalid YAML:`}},
		{"two documents", "source:\n  api: v1\n---\nhorizon: {}\n", []string{
			`:3: only one YAML document is allowed`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writePolicy(t, tc.yaml)
			_, err := Load(path, nil)
			mustBadInput(t, err)
			msg := err.Error()
			if !strings.HasPrefix(msg, filepath.Clean(path)+tc.want[0]) {
				t.Errorf("message %q does not start with %q", msg, filepath.Clean(path)+tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// All problems are reported at once, each on its own line.
func TestLoadReportsEveryProblem(t *testing.T) {
	path := writePolicy(t, "source:\n  concurrency: 0\n  colour: red\nhorizon:\n  target_days: x\n")
	_, err := Load(path, env(map[string]string{EnvMaxPages: "-5"}))
	mustBadInput(t, err)
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		path + ":2: source.concurrency:",
		path + `:3: unknown key "source.colour"`,
		path + ":5: horizon.target_days:",
		EnvMaxPages + " (overrides backfill.max_pages): must be a whole number from 1 to 10000000",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d = %q, want prefix %q", i+1, lines[i], w)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, nil)
	mustBadInput(t, err)
	for _, w := range []string{path, "not found", EnvPolicy} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	file := "horizon:\n  target_days: 30\nbackfill:\n  max_pages: 10\n  max_iterations: 2\n  force_refresh: true\nsource:\n  base_url: https://file.example\n"
	tests := []struct {
		name  string
		env   map[string]string
		check func(p *Policy) bool
	}{
		{"no env keeps the file", nil, func(p *Policy) bool {
			return p.Horizon.TargetDays == 30 && p.Backfill.MaxPages == 10 && p.Backfill.MaxIterations == 2 &&
				p.Backfill.ForceRefresh && p.Source.BaseURL == "https://file.example" && !p.ReadOnly && p.APIKey == ""
		}},
		{"target days", map[string]string{EnvTargetDays: "90"}, func(p *Policy) bool { return p.Horizon.TargetDays == 90 }},
		{"target days with spaces", map[string]string{EnvTargetDays: " 7 "}, func(p *Policy) bool { return p.Horizon.TargetDays == 7 }},
		{"max pages", map[string]string{EnvMaxPages: "250"}, func(p *Policy) bool { return p.Backfill.MaxPages == 250 }},
		{"max iterations", map[string]string{EnvMaxIterations: "0"}, func(p *Policy) bool { return p.Backfill.MaxIterations == 0 }},
		{"force refresh 0", map[string]string{EnvForceRefresh: "0"}, func(p *Policy) bool { return !p.Backfill.ForceRefresh }},
		{"force refresh no", map[string]string{EnvForceRefresh: "NO"}, func(p *Policy) bool { return !p.Backfill.ForceRefresh }},
		{"force refresh false", map[string]string{EnvForceRefresh: "false"}, func(p *Policy) bool { return !p.Backfill.ForceRefresh }},
		{"read only 1", map[string]string{EnvReadOnly: "1"}, func(p *Policy) bool { return p.ReadOnly }},
		{"read only yes", map[string]string{EnvReadOnly: "yes"}, func(p *Policy) bool { return p.ReadOnly }},
		{"read only true", map[string]string{EnvReadOnly: "True"}, func(p *Policy) bool { return p.ReadOnly }},
		{"read only 0", map[string]string{EnvReadOnly: "0"}, func(p *Policy) bool { return !p.ReadOnly }},
		{"offline 1", map[string]string{EnvOffline: "1"}, func(p *Policy) bool { return p.Offline && !p.ReadOnly }},
		{"offline no", map[string]string{EnvOffline: "no"}, func(p *Policy) bool { return !p.Offline }},
		{"api url", map[string]string{EnvAPIURL: "http://127.0.0.1:3999/"}, func(p *Policy) bool { return p.Source.BaseURL == "http://127.0.0.1:3999" }},
		{"api key", map[string]string{EnvAPIKey: "k-123\n"}, func(p *Policy) bool { return p.APIKey == "k-123" }},
		{"empty values are unset", map[string]string{EnvTargetDays: "", EnvMaxPages: " ", EnvAPIURL: "", EnvAPIKey: "", EnvReadOnly: ""}, func(p *Policy) bool {
			return p.Horizon.TargetDays == 30 && p.Backfill.MaxPages == 10 && p.Source.BaseURL == "https://file.example" && p.APIKey == "" && !p.ReadOnly
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writePolicy(t, file)
			p, err := Load(path, env(tc.env))
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if !tc.check(p) {
				t.Errorf("override not applied: %+v", *p)
			}
		})
	}
}

func TestEnvOverrideErrors(t *testing.T) {
	tests := []struct {
		name, env, value string
		want             string
	}{
		{"target days word", EnvTargetDays, "year", `BACKFILL_TARGET_DAYS (overrides horizon.target_days): must be a whole number from 1 to 3650, got "year"`},
		{"target days zero", EnvTargetDays, "0", `BACKFILL_TARGET_DAYS (overrides horizon.target_days): must be a whole number from 1 to 3650, got "0"`},
		{"target days high", EnvTargetDays, "4000", `got "4000"`},
		{"max pages zero", EnvMaxPages, "0", `BACKFILL_MAX_PAGES (overrides backfill.max_pages): must be a whole number from 1 to 10000000, got "0"`},
		{"max pages float", EnvMaxPages, "1.5", `BACKFILL_MAX_PAGES (overrides backfill.max_pages): must be a whole number`},
		{"max iterations negative", EnvMaxIterations, "-1", `BACKFILL_MAX_ITERATIONS (overrides backfill.max_iterations): must be a whole number, 0 or more, got "-1"`},
		{"force refresh word", EnvForceRefresh, "sure", `BACKFILL_FORCE_REFRESH (overrides backfill.force_refresh): must be one of 1, 0, true, false, yes, no, got "sure"`},
		{"read only word", EnvReadOnly, "2", `BACKFILL_READ_ONLY: must be one of 1, 0, true, false, yes, no, got "2"`},
		{"offline word", EnvOffline, "maybe", `BACKFILL_OFFLINE: must be one of 1, 0, true, false, yes, no, got "maybe"`},
		{"api url scheme", EnvAPIURL, "localhost:3999", `HIRO_API_URL (overrides source.base_url): must be an http:// or https:// URL`},
		{"api key spaces", EnvAPIKey, "two words", `HIRO_API_KEY: must be printable ASCII without spaces or control characters (the value is not shown)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writePolicy(t, "source:\n")
			_, err := Load(path, env(map[string]string{tc.env: tc.value}))
			mustBadInput(t, err)
			if err.Error() != tc.want && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Env != tc.env {
				t.Errorf("error does not name %s as its source: %#v", tc.env, pe)
			}
		})
	}
}

func TestRelativePathsResolveAgainstPolicyFolder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "conf", "prod")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "policy.yaml")
	text := "paths:\n  database: ./db/w.duckdb\n  raw_dir: ../raw\n  publish_dir: /srv/pub/\ndashboards:\n  prices:\n    source: csv\n    csv: prices.csv\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// Run from elsewhere and name the file relatively: paths must still
	// resolve against the file's folder, not the working directory.
	t.Chdir(root)
	p, err := Load(filepath.Join("conf", "prod", "policy.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"database":           filepath.Join(dir, "db", "w.duckdb"),
		"raw_dir":            filepath.Join(root, "conf", "raw"),
		"publish_dir":        "/srv/pub",
		"dashboards_dir":     filepath.Join(dir, "data", "dashboards"),
		"first_seen_parquet": filepath.Join(dir, "data", "cache", "wallet_metrics", "first_seen_wallets.parquet"),
		"csv":                filepath.Join(dir, "prices.csv"),
		"file":               path,
		"dir":                dir,
	}
	got := map[string]string{
		"database": p.Paths.Database, "raw_dir": p.Paths.RawDir, "publish_dir": p.Paths.PublishDir,
		"dashboards_dir": p.Paths.DashboardsDir, "first_seen_parquet": p.Paths.FirstSeenParquet,
		"csv": p.Dashboards.Prices.CSV, "file": p.File, "dir": p.Dir,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}

func TestFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "backfill.yaml")
	if err := os.WriteFile(policyPath, []byte("horizon:\n  target_days: 30\nbackfill:\n  max_pages: 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dotenv := "# secrets\nHIRO_API_KEY=from-dotenv\nBACKFILL_TARGET_DAYS=60\nexport BACKFILL_MAX_PAGES=20\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("dotenv over file", func(t *testing.T) {
		p, err := fromEnvironment(env(map[string]string{EnvPolicy: policyPath}), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if p.APIKey != "from-dotenv" || p.Horizon.TargetDays != 60 || p.Backfill.MaxPages != 20 {
			t.Errorf("got key set %v, target %d, pages %d; want from .env", p.APIKey == "from-dotenv", p.Horizon.TargetDays, p.Backfill.MaxPages)
		}
		if p.File != policyPath {
			t.Errorf("File = %q, want %q", p.File, policyPath)
		}
	})
	t.Run("process env over dotenv", func(t *testing.T) {
		p, err := fromEnvironment(env(map[string]string{EnvPolicy: policyPath, EnvAPIKey: "from-process", EnvTargetDays: "90"}), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if p.APIKey != "from-process" || p.Horizon.TargetDays != 90 || p.Backfill.MaxPages != 20 {
			t.Errorf("got target %d, pages %d, process key %v", p.Horizon.TargetDays, p.Backfill.MaxPages, p.APIKey == "from-process")
		}
	})
	t.Run("set but empty process variable hides dotenv", func(t *testing.T) {
		p, err := fromEnvironment(env(map[string]string{EnvPolicy: policyPath, EnvAPIKey: ""}), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if p.APIKey != "" {
			t.Error("an exported empty HIRO_API_KEY should switch the key off")
		}
	})
	t.Run("default path in working directory", func(t *testing.T) {
		p, err := fromEnvironment(env(nil), dir)
		if err != nil {
			t.Fatal(err)
		}
		if p.File != policyPath || p.Horizon.TargetDays != 60 {
			t.Errorf("File %q target %d", p.File, p.Horizon.TargetDays)
		}
	})
	t.Run("relative BACKFILL_POLICY against working directory", func(t *testing.T) {
		p, err := fromEnvironment(env(map[string]string{EnvPolicy: filepath.Base(dir) + "/backfill.yaml"}), filepath.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		if p.File != policyPath {
			t.Errorf("File = %q, want %q", p.File, policyPath)
		}
	})
	t.Run("bad value from dotenv names the file", func(t *testing.T) {
		d := t.TempDir()
		pp := filepath.Join(d, "backfill.yaml")
		os.WriteFile(pp, []byte("source:\n"), 0o644)
		os.WriteFile(filepath.Join(d, ".env"), []byte("BACKFILL_MAX_ITERATIONS=lots\n"), 0o600)
		_, err := fromEnvironment(env(map[string]string{EnvPolicy: pp}), t.TempDir())
		mustBadInputPlain(t, err)
		want := "BACKFILL_MAX_ITERATIONS (set in " + filepath.Join(d, ".env") + "; overrides backfill.max_iterations)"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	})
	t.Run("broken dotenv", func(t *testing.T) {
		d := t.TempDir()
		pp := filepath.Join(d, "backfill.yaml")
		os.WriteFile(pp, []byte("source:\n"), 0o644)
		os.WriteFile(filepath.Join(d, ".env"), []byte("OK=1\nthis line has no equals sign\n"), 0o600)
		_, err := fromEnvironment(env(map[string]string{EnvPolicy: pp}), t.TempDir())
		mustBadInputPlain(t, err)
		if !strings.Contains(err.Error(), ".env:2: expected KEY=VALUE") {
			t.Errorf("error %q does not name the .env line", err)
		}
	})
	t.Run("missing BACKFILL_POLICY file", func(t *testing.T) {
		missing := filepath.Join(dir, "other.yaml")
		_, err := fromEnvironment(env(map[string]string{EnvPolicy: missing}), t.TempDir())
		mustBadInputPlain(t, err)
		for _, w := range []string{"BACKFILL_POLICY=" + missing, "not found", "unset it"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	})
	t.Run("missing default file", func(t *testing.T) {
		wd := t.TempDir()
		_, err := fromEnvironment(env(nil), wd)
		mustBadInputPlain(t, err)
		for _, w := range []string{"no backfill.yaml in " + wd, "BACKFILL_POLICY is not set", "set BACKFILL_POLICY"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	})
	t.Run("policy path is a folder", func(t *testing.T) {
		_, err := fromEnvironment(env(map[string]string{EnvPolicy: dir}), t.TempDir())
		mustBadInputPlain(t, err)
		if !strings.Contains(err.Error(), "is a folder") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("public wrapper", func(t *testing.T) {
		t.Setenv(EnvPolicy, policyPath)
		t.Setenv(EnvAPIKey, "from-process")
		p, err := FromEnvironment()
		if err != nil {
			t.Fatal(err)
		}
		if p.APIKey != "from-process" || p.Backfill.MaxPages != 20 {
			t.Errorf("FromEnvironment did not merge the process environment and .env")
		}
		t.Setenv(EnvPolicy, filepath.Join(dir, "missing.yaml"))
		_, err = FromEnvironment()
		mustBadInput(t, err)
	})
}

// mustBadInputPlain checks errors of the unexported fromEnvironment, which
// the public wrapper marks with exit code 2: it must still be an error.
func mustBadInputPlain(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	mustBadInput(t, badInput(err))
}

func TestLoadDotEnv(t *testing.T) {
	text := "\ufeff# comment\n" +
		"\n" +
		"PLAIN=value\n" +
		"  SPACED  =  padded value  \n" +
		"export EXPORTED=yes\n" +
		"export\tTABBED=1\n" +
		"EMPTY=\n" +
		"INLINE=abc # a comment\n" +
		"HASH=abc#not-a-comment\n" +
		"SINGLE='a \"b\" $c # d'\n" +
		"DOUBLE=\"line\\nnext \\\"q\\\" \\\\ \\$x\" # trailing comment\n" +
		"UNKNOWN_ESCAPE=\"a\\qb\"\n" +
		"EQUALS=a=b=c\n" +
		"CRLF=dos\r\n" +
		"REPEAT=first\n" +
		"REPEAT=second\n" +
		"exporter=is a name\n" +
		"QUOTED_EMPTY=\"\"\n"
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDotEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN":          "value",
		"SPACED":         "padded value",
		"EXPORTED":       "yes",
		"TABBED":         "1",
		"EMPTY":          "",
		"INLINE":         "abc",
		"HASH":           "abc#not-a-comment",
		"SINGLE":         `a "b" $c # d`,
		"DOUBLE":         "line\nnext \"q\" \\ $x",
		"UNKNOWN_ESCAPE": `a\qb`,
		"EQUALS":         "a=b=c",
		"CRLF":           "dos",
		"REPEAT":         "second",
		"exporter":       "is a name",
		"QUOTED_EMPTY":   "",
	}
	if !reflect.DeepEqual(got, want) {
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s = %q, want %q", k, got[k], w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected key %q", k)
			}
		}
	}
}

func TestLoadDotEnvErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []struct{ name, text, want string }{
		{"no equals", "A=1\n" + secret + "\n", ".env:2: expected KEY=VALUE"},
		{"bad name", "1A=" + secret + "\n", `.env:1: "1A" is not a valid variable name`},
		{"name with dash", "MY-KEY=" + secret + "\n", `.env:1: "MY-KEY" is not a valid variable name`},
		{"unterminated double", "\nK=\"" + secret + "\n", ".env:2: K: unterminated double quote"},
		{"unterminated single", "K='" + secret + "\n", ".env:1: K: unterminated single quote"},
		{"text after quote", "K=\"" + secret + "\" extra\n", ".env:1: K: unexpected text after the closing quote"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadDotEnv(path)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q repeats the line's value", err)
			}
		})
	}
	_, err := LoadDotEnv(filepath.Join(t.TempDir(), ".env"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing .env: err = %v, want fs.ErrNotExist", err)
	}
}

func TestValidate(t *testing.T) {
	p := Default()
	p.Source.Concurrency = 0
	p.Dashboards.WalletWindows = []int{30, 30}
	err := p.validate()
	mustBadInput(t, err)
	for _, w := range []string{
		"source.concurrency: must be a whole number from 1 to 64, got 0",
		"dashboards.wallet_windows: entry 2 repeats 30",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	// validate normalises what Load would have normalised.
	p = Default()
	p.Source.BaseURL = "http://localhost:1/"
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	if p.Source.BaseURL != "http://localhost:1" {
		t.Errorf("BaseURL = %q, want the trailing slash dropped", p.Source.BaseURL)
	}
}

func TestDurations(t *testing.T) {
	p := Default()
	p.Horizon.SettleMinutes = 90
	p.Backfill.WindowMinutes = 15
	p.Backfill.StallMinutes = 7
	p.Retention.RawDays = 2
	p.Horizon.TargetDays = 3
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"Settle", p.Settle(), 90 * time.Minute},
		{"Window", p.Window(), 15 * time.Minute},
		{"Stall", p.Stall(), 7 * time.Minute},
		{"RawRetention", p.RawRetention(), 48 * time.Hour},
	} {
		if c.got != c.want {
			t.Errorf("%s() = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// The fields table drives decoding; it must list exactly the struct's
// yaml keys, with a pointer of the type its kind expects.
func TestFieldsMatchStruct(t *testing.T) {
	var keys []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			sf := typ.Field(i)
			tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
			if tag == "-" {
				continue
			}
			if tag == "" {
				t.Errorf("field %s%s has no yaml tag", prefix, sf.Name)
				continue
			}
			if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeOf(time.Duration(0)) {
				walk(sf.Type, prefix+tag+".")
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk(reflect.TypeOf(Policy{}), "")
	var table []string
	for _, f := range fields {
		table = append(table, f.key)
	}
	if !slices.Equal(keys, table) {
		t.Errorf("struct keys %v\n  table keys %v", keys, table)
	}
	p := Default()
	for _, f := range fields {
		ok := false
		switch f.ptr(&p).(type) {
		case *int:
			ok = f.kind == kindInt
		case *float64:
			ok = f.kind == kindFloat
		case *bool:
			ok = f.kind == kindBool
		case *string:
			ok = f.kind == kindEnum || f.kind == kindURL || f.kind == kindPath || f.kind == kindOptPath || f.kind == kindSecret || f.kind == kindIdent
		case *time.Duration:
			ok = f.kind == kindDuration
		case *[]int:
			ok = f.kind == kindIntList
		}
		if !ok {
			t.Errorf("%s: kind %d does not fit pointer %T", f.key, f.kind, f.ptr(&p))
		}
	}
}

// The seed's connection string never shows its password, in either form.
func TestRedactDSN(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"postgres://reader:hunter2@db.example:5432/stacks", "postgres://REDACTED@db.example:5432/stacks"},
		{"host=db.example user=reader password=hunter2 dbname=stacks", "host=db.example user=reader password=REDACTED dbname=stacks"},
		{"host=db password = 'hunter 2' dbname=x", "host=db password = REDACTED dbname=x"},
		{"", ""},
	} {
		if got := RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	p := Default()
	p.Seed.PostgresURL = "postgres://reader:hunter2@db.example/stacks"
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("policy", "policy", p)
	for name, s := range map[string]string{"String": p.String(), "GoString": fmt.Sprintf("%#v", p), "slog": logs.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%s shows the seed password: %s", name, s)
		}
	}
}

// TestRetiredKeyLoads: a key the policy no longer has but older files set
// loads without error and changes nothing, while a misspelling of it is
// still an unknown key.
func TestRetiredKeyLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "backfill.yaml")
	if err := os.WriteFile(path, []byte("dashboards:\n  prices:\n    days: 30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("a file setting the retired dashboards.prices.days: %v", err)
	}
	want := Default()
	want.File = got.File
	if !reflect.DeepEqual(got.Dashboards, want.Dashboards) {
		t.Errorf("dashboards = %+v, want the defaults %+v", got.Dashboards, want.Dashboards)
	}
	if err := os.WriteFile(path, []byte("dashboards:\n  prices:\n    dayz: 30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), `unknown key "dashboards.prices.dayz"`) {
		t.Errorf("a misspelt key: %v, want an unknown-key error", err)
	}
}
