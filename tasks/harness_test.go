package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/policy"
	"github.com/stxwallets/walletcache/internal/status"
	"github.com/stxwallets/walletcache/internal/store"
	"github.com/stxwallets/walletcache/internal/store/storetest"
)

// env is one test's scratch project: a simulator, a policy file pointing
// at it, the data folder, and the environment the targets see. Targets run
// in a Process of the env's own (its variables, its folder, the test log),
// never the test binary's, so tests run in parallel.
type env struct {
	t       testing.TB
	sim     *hirosim.Sim
	simURL  string
	dir     string
	policy  string
	horizon int // default horizon.target_days: the chain's days and one more
	out     io.Writer

	mu   sync.Mutex
	vars map[string]string
}

// requestTimeout is the policy's source.timeout in tests: its minimum, so
// that a slow-response fault just past it costs little time.
const requestTimeout = time.Second

// simConfig is a small chain: about 1.7k transactions a day.
func simConfig(days int, seed int64) hirosim.Config {
	return hirosim.Config{
		Seed:          seed,
		History:       time.Duration(days) * 24 * time.Hour,
		BlockInterval: time.Minute,
		TxPerBlock:    1,
	}
}

// newEnv starts a simulator and writes a policy whose extra YAML lines
// override the defaults. Output goes to the test log.
func newEnv(t *testing.T, cfg hirosim.Config, extra string) *env {
	t.Helper()
	return newTBEnv(t, cfg, extra)
}

// newBenchEnv is newEnv for benchmarks; output is discarded.
func newBenchEnv(b *testing.B, cfg hirosim.Config) *env {
	b.Helper()
	e := newTBEnv(b, cfg, "horizon:\n  target_days: 1\n  settle_minutes: 120")
	e.out = io.Discard
	return e
}

func newTBEnv(t testing.TB, cfg hirosim.Config, extra string) *env {
	t.Helper()
	sim := hirosim.New(cfg)
	url := sim.Start()
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	e := &env{t: t, sim: sim, simURL: url, dir: dir, policy: filepath.Join(dir, "backfill.yaml"),
		horizon: int((cfg.History+24*time.Hour-1)/(24*time.Hour)) + 1, out: testWriter{t},
		vars: map[string]string{"BACKFILL_POLICY": filepath.Join(dir, "backfill.yaml")}}
	e.writePolicy(url, extra)
	return e
}

// setenv sets a variable of the env's environment, like t.Setenv does for
// the process.
func (e *env) setenv(key, value string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vars[key] = value
}

// lookupEnv is the env's os.LookupEnv.
func (e *env) lookupEnv(key string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.vars[key]
	return v, ok
}

// environ is the env's environment for a child process: the test binary's
// without the variables a policy reads, then the env's own.
func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "BACKFILL_") && !strings.HasPrefix(k, "HIRO_") && k != "STATUS_FORMAT" && k != "CI" {
			out = append(out, kv)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return out
}

// proc is the Process the env's targets run in; they write to the test log.
func (e *env) proc() Process { return e.procTo(e.out) }

// procTo is proc writing stdout and stderr to w.
func (e *env) procTo(w io.Writer) Process {
	return Process{Stdout: w, Stderr: w, LookupEnv: e.lookupEnv, Dir: e.dir}
}

// backfill runs the backfill target's work on the env's policy.
func (e *env) backfill() (backfill.Summary, error) {
	e.t.Helper()
	return e.proc().runBackfill(context.Background(), e.pol())
}

// status gathers the status report of the env's policy.
func (e *env) status() (status.Report, error) {
	e.t.Helper()
	return gatherStatus(context.Background(), e.pol())
}

// writePolicy writes the policy file; sections given in extra replace the
// defaults below wholesale (YAML has no merge), so tests pass whole sections.
func (e *env) writePolicy(url, extra string) {
	sections := map[string]string{
		"source":   fmt.Sprintf("source:\n  base_url: %s\n  api: v1\n  requests_per_minute: 100000\n  requests_per_second: 1000\n  concurrency: 4\n  timeout: %s\n  max_retries: 8\n", url, requestTimeout),
		"horizon":  fmt.Sprintf("horizon:\n  target_days: %d\n  settle_minutes: 120\n", e.horizon),
		"backfill": "backfill:\n  max_pages: 100000\n  max_iterations: 0\n",
	}
	for _, block := range strings.Split(extra, "\n\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(block), ":"); ok {
			sections[name] = strings.TrimSpace(block) + "\n"
		}
	}
	var b strings.Builder
	keys := make([]string, 0, len(sections))
	for k := range sections {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(sections[k])
	}
	if err := os.WriteFile(e.policy, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// url is the simulator's base URL.
func (e *env) url() string { return e.simURL }

func (e *env) pol() *policy.Policy {
	e.t.Helper()
	p, err := e.proc().loadPolicy()
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// stored reads every row of the database.
func (e *env) stored() []chain.Tx {
	e.t.Helper()
	s, err := store.Open(context.Background(), e.pol().Paths.Database, store.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	return storetest.Rows(e.t, s.DB())
}

// assertEqual checks the database holds exactly want for burn times in
// [from, to]: nothing missing, nothing extra, every column equal.
func (e *env) assertEqual(want []chain.Tx, from, to time.Time) {
	e.t.Helper()
	storetest.AssertExact(e.t, e.stored(), want, from, to)
}

// allTime is a range that holds every simulated transaction.
var farPast, farFuture = time.Unix(0, 0), time.Unix(1<<40, 0)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// noEnv is an empty environment, for targets run outside an env.
func noEnv(string) (string, bool) { return "", false }

func itoa(n int) string { return strconv.Itoa(n) }

func decodeReport(t *testing.T, b []byte) status.Report {
	t.Helper()
	var r status.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("status JSON: %v: %s", err, b)
	}
	return r
}
