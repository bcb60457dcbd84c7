package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"go.yaml.in/yaml/v3"
)

// The environment variables the policy reads
// (docs/design.md#environment-variables).
const (
	EnvPolicy        = "BACKFILL_POLICY"         // path of the policy file
	EnvTargetDays    = "BACKFILL_TARGET_DAYS"    // overrides horizon.target_days
	EnvMaxPages      = "BACKFILL_MAX_PAGES"      // overrides backfill.max_pages
	EnvMaxIterations = "BACKFILL_MAX_ITERATIONS" // overrides backfill.max_iterations
	EnvForceRefresh  = "BACKFILL_FORCE_REFRESH"  // overrides backfill.force_refresh
	EnvReadOnly      = "BACKFILL_READ_ONLY"      // sets Policy.ReadOnly
	EnvOffline       = "BACKFILL_OFFLINE"        // sets Policy.Offline
	EnvAPIURL        = "HIRO_API_URL"            // overrides source.base_url
	EnvAPIKey        = "HIRO_API_KEY"            // sets Policy.APIKey
	EnvSeedPostgres  = "STACKS_API_PG_URL"       // overrides seed.postgres_url
	EnvSeedArchive   = "STACKS_API_ARCHIVE_DUMP" // overrides seed.archive_dump
)

// DefaultFile is the policy file used when BACKFILL_POLICY is not set,
// relative to the working directory.
const DefaultFile = "backfill.yaml"

// DotEnvFile is the name of the environment file read from the policy
// file's folder.
const DotEnvFile = ".env"

// envOverrides maps the environment variables that override a key of the
// file, in the order they are applied.
var envOverrides = []struct{ name, key string }{
	{EnvTargetDays, "horizon.target_days"},
	{EnvMaxPages, "backfill.max_pages"},
	{EnvMaxIterations, "backfill.max_iterations"},
	{EnvForceRefresh, "backfill.force_refresh"},
	{EnvAPIURL, "source.base_url"},
	{EnvSeedPostgres, "seed.postgres_url"},
	{EnvSeedArchive, "seed.archive_dump"},
}

// Error is one problem with the policy. It says where the bad value came
// from (the file and line, or the environment variable), which key, and
// what is allowed. Load returns every problem it finds, joined, inside an
// *exitcode.Error with code BadInput; errors.As finds the first.
type Error struct {
	File    string // policy file as the user named it; "" for environment problems
	Line    int    // 1-based line in File; 0 when unknown
	Env     string // environment variable that held the bad value
	EnvFile string // the .env file Env was read from; "" for the process environment
	Key     string // dotted key, such as "source.requests_per_minute"; "" when none
	Msg     string // what is wrong and what is allowed
}

// Error renders `file:line: key: msg`, or `VAR (overrides key): msg` for an
// environment variable.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Env != "":
		b.WriteString(e.Env)
		var notes []string
		if e.EnvFile != "" {
			notes = append(notes, "set in "+e.EnvFile)
		}
		if e.Key != "" {
			notes = append(notes, "overrides "+e.Key)
		}
		if len(notes) > 0 {
			b.WriteString(" (" + strings.Join(notes, "; ") + ")")
		}
	case e.File != "":
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		if e.Key != "" {
			b.WriteString(": " + e.Key)
		}
	default:
		b.WriteString(e.Key)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// badInput gives err the exit code of a bad policy; nil stays nil.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitcode.Error
	if errors.As(err, &ee) && ee.Code == exitcode.BadInput {
		return err
	}
	return &exitcode.Error{Code: exitcode.BadInput, Err: err}
}

// Load reads the policy file at path, decodes it strictly (unknown keys and
// wrong types are errors naming the line), fills in defaults, applies the
// environment overrides looked up through getenv (nil means none; pass
// os.LookupEnv for the process environment), range checks every value and
// makes relative paths absolute against the file's folder.
//
// Every error is an *exitcode.Error with code BadInput wrapping one or more
// *Error. Load neither creates nor changes any file.
func Load(path string, getenv func(string) (string, bool)) (*Policy, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, badInput(fmt.Errorf("policy file %s: %w", path, err))
	}
	p, err := load(filepath.Clean(path), abs, getenv, nil)
	return p, badInput(err)
}

// load is Load with the name shown in errors separate from the absolute
// path read, and envFile saying which variables came from a .env file.
func load(name, abs string, getenv func(string) (string, bool), envFile func(string) string) (*Policy, error) {
	data, err := readRegular(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("policy file %s not found (looked for %s): create it (the repository root ships a commented %s) or set %s to its path",
				name, abs, DefaultFile, EnvPolicy)
		}
		return nil, fmt.Errorf("read policy file %s: %w", name, err)
	}
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	if envFile == nil {
		envFile = func(string) string { return "" }
	}
	p := Default()
	l := &loader{name: name, p: &p, lines: map[string]int{}, envs: map[string]string{}, failed: map[string]bool{}}
	l.decode(data)
	l.applyEnv(getenv, envFile)
	l.validate()
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	p.File = abs
	p.Dir = filepath.Dir(abs)
	p.resolvePaths(p.Dir)
	return &p, nil
}

// validate range checks every value of p, for policies built or changed in
// code rather than loaded. Errors name the key and what is allowed, and
// carry exit code BadInput.
func (p *Policy) validate() error {
	l := &loader{p: p, lines: map[string]int{}, envs: map[string]string{}, failed: map[string]bool{}}
	l.validate()
	if len(l.errs) > 0 {
		return badInput(errors.Join(l.errs...))
	}
	return nil
}

// resolvePaths makes every relative path absolute against dir.
func (p *Policy) resolvePaths(dir string) {
	for _, f := range fields {
		if f.kind != kindPath && f.kind != kindOptPath {
			continue
		}
		s := f.ptr(p).(*string)
		if *s == "" {
			continue
		}
		if !filepath.IsAbs(*s) {
			*s = filepath.Join(dir, *s)
		}
		*s = filepath.Clean(*s)
	}
}

// loader collects the problems of one Load so the user sees all of them at
// once, and remembers where each value came from for later messages.
type loader struct {
	name   string
	p      *Policy
	lines  map[string]int    // key -> line of the file that set it
	envs   map[string]string // key -> environment variable that set it
	failed map[string]bool   // keys already reported
	envSrc func(string) string
	errs   []error
}

func (l *loader) fileErr(line int, key, msg string) {
	l.errs = append(l.errs, &Error{File: l.name, Line: line, Key: key, Msg: msg})
	if key != "" {
		l.failed[key] = true
	}
}

func (l *loader) envErr(env, key, msg string) {
	l.errs = append(l.errs, &Error{Env: env, EnvFile: l.envSrc(env), Key: key, Msg: msg})
	if key != "" {
		l.failed[key] = true
	}
}

// keyErr reports a problem with a value wherever it came from.
func (l *loader) keyErr(key, msg string) {
	if env, ok := l.envs[key]; ok {
		l.envErr(env, key, msg)
		return
	}
	if line, ok := l.lines[key]; ok {
		l.fileErr(line, key, msg)
		return
	}
	l.errs = append(l.errs, &Error{File: l.name, Key: key, Msg: msg})
	l.failed[key] = true
}

// yamlLine pulls the line out of yaml's "yaml: line N: msg" errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode reads the YAML text into l.p.
func (l *loader) decode(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.emptyErr()
			return
		}
		l.yamlErr(err, data)
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.fileErr(extra.Line, "", "only one YAML document is allowed (remove the second '---')")
		return
	} else if !errors.Is(err, io.EOF) {
		l.yamlErr(err, data)
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			l.emptyErr()
			return
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		l.emptyErr()
		return
	}
	l.section(root, "")
}

// emptyErr refuses a policy without a single key. Its defaults would start
// a 365-day crawl of the public API, which is rarely what a file emptied
// by mistake (or a truncated copy) meant; one key, even an empty section,
// says the defaults are wanted.
func (l *loader) emptyErr() {
	l.fileErr(0, "", fmt.Sprintf("the policy file sets nothing (it is empty or only comments), so every default would apply (a %d-day crawl of %s): "+
		"copy the commented %s from the repository root, or write at least one key (such as `horizon:`) to accept the defaults",
		Default().Horizon.TargetDays, Default().Source.BaseURL, DefaultFile))
}

func (l *loader) yamlErr(err error, data []byte) {
	line, msg := yamlErrLine(err.Error())
	if slices.Contains(parserProblems, msg) {
		// The parser reports where the enclosing block began, not the
		// token it could not place: find the first line the text stops
		// being YAML at.
		if at := firstBadLine(data); at > 0 {
			line = at
		}
	}
	key := ""
	if line > 0 {
		key = keyPathAt(data, line)
		if lines := strings.Split(string(data), "\n"); line <= len(lines) && strings.ContainsRune(lines[line-1], '\t') {
			msg += " (the line holds a tab: YAML indents with spaces only)"
		}
	}
	l.fileErr(line, key, "invalid YAML: "+msg)
}

// firstBadLine is the 1-based line at which the text stops parsing: the
// shortest prefix of whole lines that is not YAML ends there. 0 when
// every prefix parses.
func firstBadLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := 1; k <= len(lines); k++ {
		var n yaml.Node
		if err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n); err != nil {
			return k
		}
	}
	return 0
}

// keyLine matches a line that sets a mapping key: its indentation, key,
// and what follows the colon.
var keyLine = regexp.MustCompile(`^( *)([A-Za-z0-9_]+)\s*:(.*)$`)

// keyPathAt is the dotted key that line (1-based) sets, its parents found
// by indentation (a key with a value on its own line parents nothing);
// "" when the line sets no key.
func keyPathAt(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	m := keyLine.FindStringSubmatch(lines[line-1])
	if m == nil {
		return ""
	}
	path, indent := []string{m[2]}, len(m[1])
	for i := line - 2; i >= 0 && indent > 0; i-- {
		p := keyLine.FindStringSubmatch(lines[i])
		if p == nil || len(p[1]) >= indent {
			continue
		}
		if v := strings.TrimSpace(p[3]); v != "" && !strings.HasPrefix(v, "#") {
			continue
		}
		path, indent = append([]string{p[2]}, path...), len(p[1])
	}
	return strings.Join(path, ".")
}

// parserProblems are the messages of yaml's parser (as opposed to its
// scanner). yaml reports their line 0-based, and leaves the line out when
// it is the first; the scanner's lines are right, but also left out on the
// first line. Only "unknown anchor" comes without any line at all.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
	"found duplicate %TAG directive",
}

// yamlErrLine turns a yaml error message into a 1-based line (0 when
// unknown) and the message without the "yaml: line N:" prefix.
func yamlErrLine(s string) (int, string) {
	msg := strings.TrimPrefix(s, "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(s); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	switch {
	case slices.Contains(parserProblems, msg):
		line++
	case line == 0 && !strings.HasPrefix(msg, "unknown anchor"):
		line = 1
	}
	return line, msg
}

// deref follows YAML aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe says what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping of keys"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "an empty value"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "an unexpected YAML node"
}

// section decodes the mapping that holds the keys under prefix.
func (l *loader) section(n *yaml.Node, prefix string) {
	n = deref(n)
	known := childKeys(prefix)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "source:" with nothing under it: all defaults
	}
	if n.Kind != yaml.MappingNode {
		what := "the policy"
		if prefix != "" {
			what = prefix
		}
		l.fileErr(n.Line, "", fmt.Sprintf("%s must be a mapping with the keys %s, got %s", what, strings.Join(known, ", "), describe(n)))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.fileErr(k.Line, "", "keys must be plain names, got "+describe(k))
			continue
		}
		key := k.Value
		if prefix != "" {
			key = prefix + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			l.fileErr(k.Line, "", fmt.Sprintf("duplicate key %q (first set on line %d)", key, first))
			continue
		}
		seen[k.Value] = k.Line
		if retiredKeys[key] {
			continue
		}
		if !contains(known, k.Value) {
			l.fileErr(k.Line, "", unknownKey(key, k.Value, known))
			continue
		}
		if f := fieldByKey(key); f != nil {
			l.lines[key] = k.Line
			l.leaf(f, v)
			continue
		}
		l.section(v, key)
	}
}

// retiredKeys are keys older policy files may still set: they are accepted
// and have no effect, so such a file keeps loading.
var retiredKeys = map[string]bool{
	// Prices are requested for the whole history the wallet panels use.
	"dashboards.prices.days": true,
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unknownKey words the error for a key the policy does not have, with a
// guess at what was meant.
func unknownKey(key, name string, known []string) string {
	msg := fmt.Sprintf("unknown key %q (known keys here: %s)", key, strings.Join(known, ", "))
	lower := strings.ToLower(name)
	if strings.Contains(lower, "key") || strings.Contains(lower, "token") || strings.Contains(lower, "secret") {
		return msg + "; the API key is never written in the policy: set " + EnvAPIKey + " in the environment or in .env"
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(lower, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return msg
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// leaf decodes, checks and stores one value of the file.
func (l *loader) leaf(f *field, n *yaml.Node) {
	n = deref(n)
	v, line, msg := parseNode(f, n)
	if msg != "" {
		l.fileErr(line, f.key, msg)
		return
	}
	v, msg = f.check(v, describe(n))
	if msg != "" {
		l.fileErr(n.Line, f.key, msg)
		return
	}
	f.set(l.p, v)
}

// parseNode reads a YAML node as the field's type. It returns the value,
// or the line and message of the first problem.
func parseNode(f *field, n *yaml.Node) (any, int, string) {
	tag := ""
	if n.Kind == yaml.ScalarNode {
		tag = n.ShortTag()
	}
	bad := func() (any, int, string) { return nil, n.Line, f.mustBe(describe(n)) }
	switch f.kind {
	case kindInt:
		var x int64
		if tag != "!!int" || n.Decode(&x) != nil {
			return bad()
		}
		return x, 0, ""
	case kindFloat:
		var x float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&x) != nil {
			return bad()
		}
		return x, 0, ""
	case kindBool:
		var x bool
		if tag != "!!bool" || n.Decode(&x) != nil {
			return bad()
		}
		return x, 0, ""
	case kindEnum, kindURL, kindPath, kindIdent:
		if tag != "!!str" {
			return bad()
		}
		return n.Value, 0, ""
	case kindOptPath, kindSecret:
		if tag == "!!null" {
			return "", 0, ""
		}
		if tag != "!!str" {
			return bad()
		}
		return n.Value, 0, ""
	case kindDuration:
		if tag != "!!str" {
			return bad()
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return bad()
		}
		return d, 0, ""
	case kindIntList:
		if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
			if n.Kind == yaml.SequenceNode {
				return nil, n.Line, f.mustBe("an empty list")
			}
			return bad()
		}
		out := make([]int, 0, len(n.Content))
		for i, e := range n.Content {
			e = deref(e)
			var x int64
			if e.Kind != yaml.ScalarNode || e.ShortTag() != "!!int" || e.Decode(&x) != nil || x < f.min || x > f.max {
				return nil, e.Line, fmt.Sprintf("entry %d must be a whole number from %d to %d, got %s (the list must be %s)",
					i+1, f.min, f.max, describe(e), f.allowed())
			}
			for j, prev := range out {
				if int64(prev) == x {
					return nil, e.Line, fmt.Sprintf("entry %d repeats %d (entry %d); entries must be distinct", i+1, x, j+1)
				}
			}
			out = append(out, int(x))
		}
		return out, 0, ""
	}
	return bad()
}

// applyEnv applies the environment overrides and parses each value with
// the same rules as the file.
func (l *loader) applyEnv(getenv func(string) (string, bool), envFile func(string) string) {
	l.envSrc = envFile
	// An empty value counts as unset, so `BACKFILL_MAX_PAGES=` in .env or
	// an exported-but-empty variable does not turn into an error.
	lookup := func(name string) (string, bool) {
		v, ok := getenv(name)
		if !ok || strings.TrimSpace(v) == "" {
			return "", false
		}
		return v, true
	}
	for _, o := range envOverrides {
		s, ok := lookup(o.name)
		if !ok {
			continue
		}
		f := fieldByKey(o.key)
		v, msg := f.parseText(s)
		if msg == "" {
			v, msg = f.check(v, strconv.Quote(s))
		}
		if msg != "" {
			l.envErr(o.name, o.key, msg)
			continue
		}
		f.set(l.p, v)
		l.envs[o.key] = o.name
	}
	for _, b := range []struct {
		name string
		ptr  *bool
	}{{EnvReadOnly, &l.p.ReadOnly}, {EnvOffline, &l.p.Offline}} {
		s, ok := lookup(b.name)
		if !ok {
			continue
		}
		if v, ok := parseBool(s); ok {
			*b.ptr = v
		} else {
			l.envErr(b.name, "", "must be one of 1, 0, true, false, yes, no, got "+strconv.Quote(s))
		}
	}
	if s, ok := lookup(EnvAPIKey); ok {
		// Surrounding whitespace (a trailing newline from `$(cat file)`) is
		// dropped; anything else that cannot go in an HTTP header is an
		// error. The message never repeats the value: it is a secret.
		s = strings.TrimSpace(s)
		if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			l.envErr(EnvAPIKey, "", "must be printable ASCII without spaces or control characters (the value is not shown)")
		} else {
			l.p.APIKey = s
		}
	}
}

// validate range checks every value not reported yet (defaults, environment
// overrides and values set in code) and the rules that span keys.
func (l *loader) validate() {
	for _, f := range fields {
		if l.failed[f.key] {
			continue
		}
		if _, fromFile := l.lines[f.key]; fromFile && l.envs[f.key] == "" {
			continue // checked while decoding, with the exact line
		}
		v := f.get(l.p)
		checked, msg := f.check(v, f.render(v))
		if msg != "" {
			l.keyErr(f.key, msg)
			continue
		}
		f.set(l.p, checked)
	}
	pr := l.p.Dashboards.Prices
	if pr.Source == "csv" && strings.TrimSpace(pr.CSV) == "" && !l.failed["dashboards.prices.source"] {
		key := "dashboards.prices.csv"
		if _, ok := l.lines[key]; !ok {
			// Point at the line that chose csv when csv itself is absent.
			if line, ok := l.lines["dashboards.prices.source"]; ok {
				l.lines[key] = line
			}
		}
		l.keyErr(key, "required when dashboards.prices.source is csv: the path of a date,price_usd file")
	}
}
