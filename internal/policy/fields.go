package policy

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// identPattern is what a schema name may be.
var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// kind is how a policy value is written and checked.
type kind int

const (
	kindInt      kind = iota // whole number in [min, max]
	kindFloat                // number in [fmin, fmax]
	kindBool                 // true or false
	kindEnum                 // one of enum
	kindURL                  // http(s) URL
	kindPath                 // non-empty path, relative to the policy's folder
	kindOptPath              // like kindPath, may be ""
	kindDuration             // Go duration string in [min, max] nanoseconds
	kindIntList              // non-empty list of distinct whole numbers in [min, max]
	kindSecret               // free text that may hold a password, may be ""; never echoed
	kindIdent                // "auto" or an SQL identifier
)

// field is one key of backfill.yaml: its dotted name, how it is written,
// what is allowed, and where it lives in a Policy. The table below is the
// single source of truth for decoding, environment overrides and
// validation; a test keeps it in step with the struct's yaml tags.
type field struct {
	key        string
	kind       kind
	min, max   int64
	fmin, fmax float64
	enum       []string
	ptr        func(p *Policy) any
}

// fields lists every key in file order; the order is also the order of the
// "known keys" hints.
var fields = []*field{
	{key: "source.base_url", kind: kindURL, ptr: func(p *Policy) any { return &p.Source.BaseURL }},
	{key: "source.api", kind: kindEnum, enum: []string{"auto", "v1", "v3"}, ptr: func(p *Policy) any { return &p.Source.API }},
	{key: "source.requests_per_minute", kind: kindInt, min: 1, max: 100_000, ptr: func(p *Policy) any { return &p.Source.RequestsPerMinute }},
	{key: "source.requests_per_second", kind: kindInt, min: 1, max: 1000, ptr: func(p *Policy) any { return &p.Source.RequestsPerSecond }},
	{key: "source.concurrency", kind: kindInt, min: 1, max: 64, ptr: func(p *Policy) any { return &p.Source.Concurrency }},
	{key: "source.timeout", kind: kindDuration, min: int64(time.Second), max: int64(10 * time.Minute), ptr: func(p *Policy) any { return &p.Source.Timeout }},
	{key: "source.max_retries", kind: kindInt, min: 0, max: 100, ptr: func(p *Policy) any { return &p.Source.MaxRetries }},
	{key: "source.max_wait", kind: kindDuration, min: int64(time.Second), max: int64(24 * time.Hour), ptr: func(p *Policy) any { return &p.Source.MaxWait }},
	{key: "horizon.target_days", kind: kindInt, min: 1, max: 3650, ptr: func(p *Policy) any { return &p.Horizon.TargetDays }},
	{key: "horizon.settle_minutes", kind: kindInt, min: 0, max: 1440, ptr: func(p *Policy) any { return &p.Horizon.SettleMinutes }},
	{key: "horizon.recheck_hours", kind: kindInt, min: 0, max: 168, ptr: func(p *Policy) any { return &p.Horizon.RecheckHours }},
	{key: "backfill.max_pages", kind: kindInt, min: 1, max: 10_000_000, ptr: func(p *Policy) any { return &p.Backfill.MaxPages }},
	{key: "backfill.max_iterations", kind: kindInt, min: 0, max: math.MaxInt32, ptr: func(p *Policy) any { return &p.Backfill.MaxIterations }},
	{key: "backfill.force_refresh", kind: kindBool, ptr: func(p *Policy) any { return &p.Backfill.ForceRefresh }},
	{key: "backfill.window_minutes", kind: kindInt, min: 5, max: 1440, ptr: func(p *Policy) any { return &p.Backfill.WindowMinutes }},
	{key: "backfill.stall_minutes", kind: kindInt, min: 1, max: 1440, ptr: func(p *Policy) any { return &p.Backfill.StallMinutes }},
	{key: "backfill.segment_heights", kind: kindInt, min: 0, max: 1_000_000, ptr: func(p *Policy) any { return &p.Backfill.SegmentHeights }},
	{key: "backfill.log_every", kind: kindDuration, min: int64(time.Second), max: int64(24 * time.Hour), ptr: func(p *Policy) any { return &p.Backfill.LogEvery }},
	{key: "coverage.min_percent", kind: kindFloat, fmin: 0, fmax: 100, ptr: func(p *Policy) any { return &p.Coverage.MinPercent }},
	{key: "retention.raw_days", kind: kindInt, min: 0, max: 3650, ptr: func(p *Policy) any { return &p.Retention.RawDays }},
	{key: "paths.database", kind: kindPath, ptr: func(p *Policy) any { return &p.Paths.Database }},
	{key: "paths.raw_dir", kind: kindPath, ptr: func(p *Policy) any { return &p.Paths.RawDir }},
	{key: "paths.first_seen_parquet", kind: kindPath, ptr: func(p *Policy) any { return &p.Paths.FirstSeenParquet }},
	{key: "paths.dashboards_dir", kind: kindPath, ptr: func(p *Policy) any { return &p.Paths.DashboardsDir }},
	{key: "paths.publish_dir", kind: kindPath, ptr: func(p *Policy) any { return &p.Paths.PublishDir }},
	{key: "dashboards.wallet_max_days", kind: kindInt, min: 1, max: 3650, ptr: func(p *Policy) any { return &p.Dashboards.WalletMaxDays }},
	{key: "dashboards.wallet_windows", kind: kindIntList, min: 1, max: 3650, ptr: func(p *Policy) any { return &p.Dashboards.WalletWindows }},
	{key: "dashboards.prices.source", kind: kindEnum, enum: []string{"coingecko", "csv", "none"}, ptr: func(p *Policy) any { return &p.Dashboards.Prices.Source }},
	{key: "dashboards.prices.base_url", kind: kindURL, ptr: func(p *Policy) any { return &p.Dashboards.Prices.BaseURL }},
	{key: "dashboards.prices.csv", kind: kindOptPath, ptr: func(p *Policy) any { return &p.Dashboards.Prices.CSV }},
	{key: "seed.postgres_url", kind: kindSecret, ptr: func(p *Policy) any { return &p.Seed.PostgresURL }},
	{key: "seed.postgres_schema", kind: kindIdent, ptr: func(p *Policy) any { return &p.Seed.PostgresSchema }},
	{key: "seed.archive_dump", kind: kindOptPath, ptr: func(p *Policy) any { return &p.Seed.ArchiveDump }},
}

// fieldByKey finds a leaf key, or nil when key is a section or unknown.
func fieldByKey(key string) *field {
	for _, f := range fields {
		if f.key == key {
			return f
		}
	}
	return nil
}

// childKeys lists, in file order, the keys that may appear directly under
// the section prefix ("" for the top level).
func childKeys(prefix string) []string {
	var out []string
	for _, f := range fields {
		rest, ok := f.key, true
		if prefix != "" {
			rest, ok = strings.CutPrefix(f.key, prefix+".")
		}
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// allowed says in words what the key accepts; every error about a value
// ends with it so the reader knows how to fix the value.
func (f *field) allowed() string {
	switch f.kind {
	case kindInt:
		if f.max == math.MaxInt32 {
			return fmt.Sprintf("a whole number, %d or more", f.min)
		}
		return fmt.Sprintf("a whole number from %d to %d", f.min, f.max)
	case kindFloat:
		return fmt.Sprintf("a number from %g to %g", f.fmin, f.fmax)
	case kindBool:
		return "true or false"
	case kindEnum:
		return "one of " + strings.Join(f.enum, ", ")
	case kindURL:
		return `an http:// or https:// URL such as "https://api.hiro.so"`
	case kindPath:
		return "a file or folder path (relative paths resolve against the policy file's folder)"
	case kindOptPath:
		return `a file path, or "" for none (relative paths resolve against the policy file's folder)`
	case kindDuration:
		return fmt.Sprintf(`a duration from %s to %s such as "30s" or "2m"`,
			shortDuration(time.Duration(f.min)), shortDuration(time.Duration(f.max)))
	case kindIntList:
		return fmt.Sprintf("a non-empty list of distinct whole numbers from %d to %d, such as [15, 30, 60, 90]", f.min, f.max)
	case kindSecret:
		return `a PostgreSQL URL such as "postgres://reader@db.example:5432/stacks_blockchain_api", or "" for none`
	case kindIdent:
		return `"auto" or a schema name of letters, digits and _`
	}
	return "a valid value"
}

// shortDuration prints 10m rather than Go's 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// mustBe is the message for a value that is not allowed.
func (f *field) mustBe(got string) string {
	return "must be " + f.allowed() + ", got " + got
}

// parseText reads a value written as text (an environment variable). It
// returns the value, or the message saying what is allowed.
func (f *field) parseText(s string) (any, string) {
	got := strconv.Quote(s)
	switch f.kind {
	case kindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, f.mustBe(got)
		}
		return n, ""
	case kindBool:
		b, ok := parseBool(s)
		if !ok {
			return nil, "must be one of 1, 0, true, false, yes, no, got " + got
		}
		return b, ""
	case kindURL:
		return strings.TrimSpace(s), ""
	case kindSecret, kindOptPath:
		return strings.TrimSpace(s), ""
	}
	// Only the kinds above are ever overridden from the environment.
	return nil, "cannot be set from the environment"
}

// parseBool reads the boolean spellings environment variables use.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true, true
	case "0", "false", "no":
		return false, true
	}
	return false, false
}

// check range-checks a parsed value and normalises it (URLs lose a trailing
// slash). got is how the value was written, for the message.
func (f *field) check(v any, got string) (any, string) {
	switch f.kind {
	case kindInt:
		n := v.(int64)
		if n < f.min || n > f.max {
			return nil, f.mustBe(got)
		}
		return int(n), ""
	case kindFloat:
		x := v.(float64)
		if math.IsNaN(x) || x < f.fmin || x > f.fmax {
			return nil, f.mustBe(got)
		}
		return x, ""
	case kindBool:
		return v, ""
	case kindEnum:
		if !slices.Contains(f.enum, v.(string)) {
			return nil, f.mustBe(got)
		}
		return v, ""
	case kindURL:
		s := strings.TrimRight(v.(string), "/")
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, " \t\r\n") {
			// The message repeats the value: without its user info, which
			// can hold a password.
			return nil, f.mustBe(strconv.Quote(RedactURL(v.(string))))
		}
		return s, ""
	case kindPath:
		if strings.TrimSpace(v.(string)) == "" {
			return nil, f.mustBe(got)
		}
		return v, ""
	case kindOptPath:
		return v, ""
	case kindDuration:
		d := v.(time.Duration)
		if int64(d) < f.min || int64(d) > f.max {
			return nil, f.mustBe(got)
		}
		return d, ""
	case kindSecret:
		return v, ""
	case kindIdent:
		if !identPattern.MatchString(v.(string)) {
			return nil, f.allowed() // the value is not repeated: it may be mistyped secret text
		}
		return v, ""
	case kindIntList:
		// Element errors are found while decoding, where each element's
		// line is known; here only the list as a whole is checked.
		l := v.([]int)
		if len(l) == 0 {
			return nil, f.mustBe(got)
		}
		for i, n := range l {
			if int64(n) < f.min || int64(n) > f.max {
				return nil, fmt.Sprintf("entry %d must be a whole number from %d to %d, got %d", i+1, f.min, f.max, n)
			}
			if slices.Index(l, n) < i {
				return nil, fmt.Sprintf("entry %d repeats %d; %s", i+1, n, "entries must be distinct")
			}
		}
		return append([]int(nil), l...), ""
	}
	return v, ""
}

// set stores a checked value into p.
func (f *field) set(p *Policy, v any) {
	switch dst := f.ptr(p).(type) {
	case *int:
		*dst = v.(int)
	case *float64:
		*dst = v.(float64)
	case *bool:
		*dst = v.(bool)
	case *string:
		*dst = v.(string)
	case *time.Duration:
		*dst = v.(time.Duration)
	case *[]int:
		*dst = v.([]int)
	default:
		panic(fmt.Sprintf("policy: field %s has unsupported type %T", f.key, dst))
	}
}

// get reads the current value of the field from p in the form check takes.
func (f *field) get(p *Policy) any {
	switch src := f.ptr(p).(type) {
	case *int:
		return int64(*src)
	case *float64:
		return *src
	case *bool:
		return *src
	case *string:
		return *src
	case *time.Duration:
		return *src
	case *[]int:
		return *src
	}
	panic(fmt.Sprintf("policy: field %s has unsupported type %T", f.key, f.ptr(p)))
}

// render prints a current value the way a policy file would spell it.
func (f *field) render(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case time.Duration:
		return strconv.Quote(shortDuration(x))
	case []int:
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = strconv.Itoa(n)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
