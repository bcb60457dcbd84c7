package tasks

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The raw cache alone rebuilds every final window: after the database is
// deleted, a new run reads final pages from the cache (deleting and
// re-fetching the ones that no longer decode) and asks the API only for
// the tip and the provisional tail; the result is exact again.
func TestRebuildFromRawCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, simConfig(2, 31), "horizon:\n  target_days: 3\n  settle_minutes: 120")
	first, err := e.backfill()
	if err != nil {
		t.Fatal(err)
	}
	pol := e.pol()
	var files []string
	_ = filepath.Walk(pol.Paths.RawDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json.gz") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 10 {
		t.Fatalf("only %d raw files", len(files))
	}
	// Corrupt three files three ways: garbage, a cut gzip, valid gzip of
	// invalid JSON.
	_ = os.WriteFile(files[0], []byte("not gzip"), 0o644)
	b, _ := os.ReadFile(files[1])
	_ = os.WriteFile(files[1], b[:len(b)/2], 0o644)
	f, _ := os.Create(files[2])
	zw := gzip.NewWriter(f)
	_, _ = zw.Write([]byte(`{"limit":50,"offset":0,"total":3,"results":[{"tx_id":`))
	_ = zw.Close()
	_ = f.Close()

	for _, p := range []string{pol.Paths.Database, pol.Paths.Database + ".wal"} {
		_ = os.Remove(p)
	}
	e.sim.ResetStats()
	second, err := e.backfill()
	if err != nil {
		t.Fatal(err)
	}
	e.assertEqual(e.sim.All(), farPast, farFuture)
	if second.CacheHits < int64(len(files))-3 {
		t.Fatalf("rebuild read %d pages from the cache, want at least %d", second.CacheHits, len(files)-3)
	}
	// Network: the tip, the newest transaction, the block that names the
	// chain, the three corrupt pages and the provisional tail.
	tail := first.Pages - int64(len(files))
	if n := e.sim.Stats().Requests; n > tail+3+3 {
		t.Fatalf("rebuild sent %d requests; only the tip, the newest transaction, the chain check, 3 corrupt pages and %d tail pages were needed", n, tail)
	}
}
