// Package policy loads, validates and overrides the backfill policy: the
// `backfill.yaml` file plus the environment overrides (process environment
// first, then a `.env` file next to the policy). docs/design.md lists the
// keys, their defaults and the variables.
//
// A bad policy must stop a command before it touches anything, so every
// error Load and FromEnvironment return carries exit code 2
// (exitcode.BadInput) and names the file and line, or the environment
// variable, the dotted key and what is allowed. Nothing in this package
// creates files or folders.
//
// The API key (HIRO_API_KEY) is a secret: it lives in Policy.APIKey, which
// the String, GoString and LogValue methods and JSON encoding never show.
package policy

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Policy is the effective policy: backfill.yaml with defaults filled in,
// environment overrides applied, values range checked and relative paths
// made absolute against the policy file's folder.
//
// Its yaml tags mirror the file; the fields tagged yaml:"-" are runtime
// only. Print it freely: %v, %+v, %#v and slog never show APIKey.
type Policy struct {
	Source     Source     `yaml:"source" json:"source"`
	Horizon    Horizon    `yaml:"horizon" json:"horizon"`
	Backfill   Backfill   `yaml:"backfill" json:"backfill"`
	Coverage   Coverage   `yaml:"coverage" json:"coverage"`
	Retention  Retention  `yaml:"retention" json:"retention"`
	Paths      Paths      `yaml:"paths" json:"paths"`
	Dashboards Dashboards `yaml:"dashboards" json:"dashboards"`
	Seed       Seed       `yaml:"seed" json:"seed"`

	// APIKey is the Hiro API key from HIRO_API_KEY (environment or .env),
	// sent as x-api-key. "" means no key. Never print, log or store it.
	APIKey string `yaml:"-" json:"-"`
	// ReadOnly is BACKFILL_READ_ONLY: never write the database.
	ReadOnly bool `yaml:"-" json:"read_only"`
	// Offline is BACKFILL_OFFLINE: the backfill rebuilds from the raw cache
	// alone and sends no request (docs/design.md#raw-cache).
	Offline bool `yaml:"-" json:"offline"`
	// File is the absolute path of the policy file it was loaded from.
	File string `yaml:"-" json:"file"`
	// Dir is the policy file's folder, against which relative paths resolve.
	Dir string `yaml:"-" json:"dir"`
}

// Source is where transactions come from and how hard to push the API.
type Source struct {
	// BaseURL is the Hiro API root (HIRO_API_URL overrides it), without a
	// trailing slash.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// API is which transaction list to page: auto, v1 or v3
	// (docs/design.md#sources).
	API string `yaml:"api" json:"api"`
	// RequestsPerMinute is the client-side minute budget; a lower limit
	// seen in response headers wins.
	RequestsPerMinute int `yaml:"requests_per_minute" json:"requests_per_minute"`
	// RequestsPerSecond is the client-side second budget.
	RequestsPerSecond int `yaml:"requests_per_second" json:"requests_per_second"`
	// Concurrency is the number of requests in flight.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// Timeout bounds one HTTP request.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxRetries is how often one request is retried after a 5xx, a timeout
	// or a bad body before the run gives up on it. A 429 is pacing and does
	// not use up retries.
	MaxRetries int `yaml:"max_retries" json:"max_retries"`
	// MaxWait bounds how long one request waits for the server's rate
	// limits (Retry-After, exhausted windows, 429 after 429) before the
	// run stops with a message saying what the server demands.
	MaxWait time.Duration `yaml:"max_wait" json:"max_wait"`
}

// Horizon is how much history must be covered.
type Horizon struct {
	// TargetDays is the coverage horizon in days back from now
	// (BACKFILL_TARGET_DAYS overrides it).
	TargetDays int `yaml:"target_days" json:"target_days"`
	// SettleMinutes is how far behind the chain tip's burn_block_time a
	// window must end to be final; younger windows stay provisional.
	SettleMinutes int `yaml:"settle_minutes" json:"settle_minutes"`
	// RecheckHours is how far back from the final edge every run re-reads
	// the totals of final windows, one cheap request each, and re-opens any
	// that changed: Bitcoin timestamps can run backwards by more than the
	// settle margin, so a window called final can still grow. 0 turns it off.
	RecheckHours int `yaml:"recheck_hours" json:"recheck_hours"`
}

// Backfill bounds one backfill run.
type Backfill struct {
	// MaxPages is the number of pages per iteration (BACKFILL_MAX_PAGES).
	MaxPages int `yaml:"max_pages" json:"max_pages"`
	// MaxIterations is the number of iterations; 0 loops until the target
	// is reached (BACKFILL_MAX_ITERATIONS).
	MaxIterations int `yaml:"max_iterations" json:"max_iterations"`
	// ForceRefresh re-requests pages even when the raw cache has them
	// (BACKFILL_FORCE_REFRESH).
	ForceRefresh bool `yaml:"force_refresh" json:"force_refresh"`
	// WindowMinutes is the grid of the time windows the backfill pages:
	// a window spans as many of its cells as its density allows.
	WindowMinutes int `yaml:"window_minutes" json:"window_minutes"`
	// StallMinutes is how long without a committed page before status and
	// the progress output warn of a stall.
	StallMinutes int `yaml:"stall_minutes" json:"stall_minutes"`
	// SegmentHeights is the height grid v3 work is aligned on: walks of
	// final segments restart at its multiples, so pages cached by one run
	// serve any later plan. 0 turns the grid off.
	SegmentHeights int `yaml:"segment_heights" json:"segment_heights"`
	// LogEvery is how often a backfill off a terminal (CI, tmux logs) logs a
	// progress line: an iteration can last well over an hour.
	LogEvery time.Duration `yaml:"log_every" json:"log_every"`
}

// Coverage is the bar `status` holds the database to.
type Coverage struct {
	// MinPercent is the coverage below which status exits 3.
	MinPercent float64 `yaml:"min_percent" json:"min_percent"`
}

// Retention is how long raw pages are kept.
type Retention struct {
	// RawDays is the age in days after which `prune` deletes raw pages.
	RawDays int `yaml:"raw_days" json:"raw_days"`
}

// Paths are the product's files and folders. After Load they are absolute.
type Paths struct {
	Database         string `yaml:"database" json:"database"`
	RawDir           string `yaml:"raw_dir" json:"raw_dir"`
	FirstSeenParquet string `yaml:"first_seen_parquet" json:"first_seen_parquet"`
	DashboardsDir    string `yaml:"dashboards_dir" json:"dashboards_dir"`
	// PublishDir is where `publish` copies the built dashboard and artifacts.
	PublishDir string `yaml:"publish_dir" json:"publish_dir"`
}

// Dashboards shapes the wallet dashboards.
type Dashboards struct {
	// WalletMaxDays is how many days of history the wallet panels use.
	WalletMaxDays int `yaml:"wallet_max_days" json:"wallet_max_days"`
	// WalletWindows are the value-window lengths in days.
	WalletWindows []int `yaml:"wallet_windows" json:"wallet_windows"`
	// Prices is where STX/USD prices come from.
	Prices Prices `yaml:"prices" json:"prices"`
}

// Prices is the STX/USD price source.
type Prices struct {
	// Source is coingecko, csv or none.
	Source string `yaml:"source" json:"source"`
	// BaseURL is the CoinGecko API root, without a trailing slash.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// CSV is a date,price_usd file, required when Source is csv; absolute
	// after Load, "" when unset.
	CSV string `yaml:"csv" json:"csv"`
}

// Seed is an optional bulk source of history: a stacks-blockchain-api
// PostgreSQL database, or a pg_dump archive of one. Final windows the seed
// holds come from it; the rest from the API.
type Seed struct {
	// PostgresURL connects to the database (STACKS_API_PG_URL overrides
	// it); "" for none. It may hold a password: never print it unredacted.
	PostgresURL string `yaml:"postgres_url" json:"postgres_url"`
	// PostgresSchema is auto (stacks_blockchain_api, else public) or the
	// schema holding the API's tables.
	PostgresSchema string `yaml:"postgres_schema" json:"postgres_schema"`
	// ArchiveDump is a pg_dump custom-format file (STACKS_API_ARCHIVE_DUMP
	// overrides it); "" for none, absolute after Load.
	ArchiveDump string `yaml:"archive_dump" json:"archive_dump"`
}

// Default returns the defaults of every key (docs/design.md#policy-keys).
// Paths are relative, as written in backfill.yaml; Load makes them absolute.
func Default() Policy {
	return Policy{
		Source: Source{
			BaseURL:           "https://api.hiro.so",
			API:               "auto",
			RequestsPerMinute: 50,
			RequestsPerSecond: 20,
			Concurrency:       4,
			Timeout:           30 * time.Second,
			MaxRetries:        8,
			MaxWait:           15 * time.Minute,
		},
		Horizon:   Horizon{TargetDays: 365, SettleMinutes: 120, RecheckHours: 6},
		Backfill:  Backfill{MaxPages: 5000, MaxIterations: 0, ForceRefresh: false, WindowMinutes: 60, StallMinutes: 10, SegmentHeights: 2000, LogEvery: time.Minute},
		Coverage:  Coverage{MinPercent: 100},
		Retention: Retention{RawDays: 45},
		Paths:     DefaultPaths("data"),
		Seed:      Seed{PostgresSchema: "auto"},
		Dashboards: Dashboards{
			WalletMaxDays: 365,
			WalletWindows: []int{15, 30, 60, 90},
			Prices: Prices{
				Source:  "coingecko",
				BaseURL: "https://api.coingecko.com",
				CSV:     "",
			},
		},
	}
}

// DefaultPaths is the default layout of every file the product writes,
// under root: Default uses "data" (relative to the policy file's folder),
// the demo its own folder.
func DefaultPaths(root string) Paths {
	return Paths{
		Database:         filepath.Join(root, "cache", "wallet_metrics.duckdb"),
		RawDir:           filepath.Join(root, "raw"),
		FirstSeenParquet: filepath.Join(root, "cache", "wallet_metrics", "first_seen_wallets.parquet"),
		DashboardsDir:    filepath.Join(root, "dashboards"),
		PublishDir:       filepath.Join(root, "publish"),
	}
}

// Settle is the settle margin: horizon.settle_minutes.
func (p *Policy) Settle() time.Duration {
	return time.Duration(p.Horizon.SettleMinutes) * time.Minute
}

// Recheck is how far back from the final edge final windows are re-checked:
// horizon.recheck_hours.
func (p *Policy) Recheck() time.Duration {
	return time.Duration(p.Horizon.RecheckHours) * time.Hour
}

// Window is the size of one backfill time window: backfill.window_minutes.
func (p *Policy) Window() time.Duration {
	return time.Duration(p.Backfill.WindowMinutes) * time.Minute
}

// Stall is how long without a committed page counts as a stall:
// backfill.stall_minutes.
func (p *Policy) Stall() time.Duration {
	return time.Duration(p.Backfill.StallMinutes) * time.Minute
}

// RawRetention is the age after which raw pages are pruned:
// retention.raw_days.
func (p *Policy) RawRetention() time.Duration {
	return time.Duration(p.Retention.RawDays) * 24 * time.Hour
}

// redactedKey stands in for a set API key wherever a Policy is rendered.
const redactedKey = "[redacted]"

// Redacted returns a copy whose APIKey, when set, is replaced by a fixed
// marker and whose URLs have their user info and secret-looking query
// values redacted (RedactURL), for code that must hand the policy to
// something that prints it; never connect with the copy.
// The copy shares no slices with p.
func (p Policy) Redacted() Policy {
	if p.APIKey != "" {
		p.APIKey = redactedKey
	}
	p.Source.BaseURL = RedactURL(p.Source.BaseURL)
	p.Dashboards.Prices.BaseURL = RedactURL(p.Dashboards.Prices.BaseURL)
	p.Seed.PostgresURL = RedactDSN(p.Seed.PostgresURL)
	p.Dashboards.WalletWindows = append([]int(nil), p.Dashboards.WalletWindows...)
	return p
}

// plain has Policy's fields but none of its methods, so the renderings
// below can format a redacted copy without recursing into themselves.
type plain Policy

// String renders the policy for %v and %+v with the API key redacted.
func (p Policy) String() string {
	return fmt.Sprintf("%+v", plain(p.Redacted()))
}

// GoString renders the policy for %#v with the API key redacted.
func (p Policy) GoString() string {
	s := fmt.Sprintf("%#v", plain(p.Redacted()))
	// Name the real type rather than the private method-less copy.
	return strings.Replace(s, "policy.plain{", "policy.Policy{", 1)
}

// LogValue makes slog show the effective policy without the API key, only
// whether one is set.
func (p Policy) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("file", p.File),
		slog.String("base_url", RedactURL(p.Source.BaseURL)),
		slog.String("api", p.Source.API),
		slog.Bool("api_key_set", p.APIKey != ""),
		slog.Int("requests_per_minute", p.Source.RequestsPerMinute),
		slog.Int("requests_per_second", p.Source.RequestsPerSecond),
		slog.Int("concurrency", p.Source.Concurrency),
		slog.Duration("timeout", p.Source.Timeout),
		slog.Int("max_retries", p.Source.MaxRetries),
		slog.Duration("max_wait", p.Source.MaxWait),
		slog.Int("target_days", p.Horizon.TargetDays),
		slog.Int("settle_minutes", p.Horizon.SettleMinutes),
		slog.Int("recheck_hours", p.Horizon.RecheckHours),
		slog.Int("max_pages", p.Backfill.MaxPages),
		slog.Int("max_iterations", p.Backfill.MaxIterations),
		slog.Bool("force_refresh", p.Backfill.ForceRefresh),
		slog.Int("window_minutes", p.Backfill.WindowMinutes),
		slog.Int("stall_minutes", p.Backfill.StallMinutes),
		slog.Int("segment_heights", p.Backfill.SegmentHeights),
		slog.Duration("log_every", p.Backfill.LogEvery),
		slog.Float64("min_percent", p.Coverage.MinPercent),
		slog.Int("raw_days", p.Retention.RawDays),
		slog.String("database", p.Paths.Database),
		slog.String("raw_dir", p.Paths.RawDir),
		slog.String("dashboards_dir", p.Paths.DashboardsDir),
		slog.String("prices", p.Dashboards.Prices.Source),
		slog.String("seed_postgres_url", RedactDSN(p.Seed.PostgresURL)),
		slog.String("seed_archive_dump", p.Seed.ArchiveDump),
		slog.Bool("read_only", p.ReadOnly),
		slog.Bool("offline", p.Offline),
	)
}
