package status

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/store"
)

// BenchmarkGather10M measures `status` on a database of ten million
// transactions and a year of verified hourly windows.
//
//	go test ./internal/status -run '^$' -bench Gather10M -benchtime 5x
func BenchmarkGather10M(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "w.duckdb")
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Hour)
	start := now.Add(-365 * 24 * time.Hour).Unix()
	_, err = s.DB().ExecContext(ctx, `
INSERT INTO transactions
SELECT printf('0x%064x', i), 'token_transfer', 'success', i // 3, '0xb', to_timestamp(?::BIGINT + i * 3 + 5),
       i // 300, to_timestamp(?::BIGINT + i * 3), (i % 3)::INTEGER,
       'SP' || ((hash(i) % 2000000)::VARCHAR), i, 180, false, NULL, 'SPB', 1, '0x00', NULL, NULL, NULL, true
FROM range(10000000) t(i)`, start, start)
	if err != nil {
		b.Fatal(err)
	}
	_, err = s.DB().ExecContext(ctx, `
INSERT INTO windows SELECT i, ?::BIGINT + i * 3600, ?::BIGINT + i * 3600 + 3599, 'v1', 1, 0, 0, true, true, now(), now()
FROM range(8760) t(i)`, start, start)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetMeta(ctx, store.MetaTipBurnTime, "0"); err != nil {
		b.Fatal(err)
	}
	// Every backfill iteration ends by computing (and caching) the facts.
	if _, err := s.TableFacts(ctx); err != nil {
		b.Fatal(err)
	}
	s.Close()
	in := Inputs{Database: path, TargetDays: 365, Settle: 2 * time.Hour, MinPercent: 100,
		Open: func(ctx context.Context) (*store.Store, error) {
			return store.Open(ctx, path, store.Options{ReadOnly: true})
		}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := Gather(ctx, in)
		if err != nil || rep.Rows != 10_000_000 {
			b.Fatalf("%v rows=%d", err, rep.Rows)
		}
	}
}
