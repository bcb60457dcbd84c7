package backfill_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/benchenv"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/rawcache"
	"github.com/stxwallets/walletcache/internal/store"
)

// BenchmarkRebuild fills a raw cache from the simulator (REBUILD_DAYS days
// of about 20k transactions a day, default 5), deletes the database, and
// times the rebuild from the cache, for v1 and for v3. The limit is DuckDB's
// own read_json over the same page files into a fresh transactions table,
// timed in the same run; the ratio is rebuild rows/s ÷ read_json rows/s.
// It also reports the list requests the rebuild sent (those of the
// provisional tail only, when the cache is complete), and how the first run
// against the unlimited simulator compares with a bare fetch of the same
// requests, 4 at a time (ingest_vs_bare_fetch: 1 is as fast as the server):
//
//	REBUILD_DAYS=5 go test -run '^$' -bench Rebuild -benchtime 1x ./internal/backfill/
//
// The in-process simulator serves a page in a fraction of a millisecond,
// far faster than any real server; REBUILD_LATENCY (a Go duration, default
// 0) adds that much service time to every response, as a self-hosted API
// reading its PostgreSQL database would take, for both the first run and
// the bare fetch.
func BenchmarkRebuild(b *testing.B) {
	days := benchenv.Int(b, "REBUILD_DAYS", 5)
	latency := benchenv.Duration(b, "REBUILD_LATENCY", 0)
	cfg := seedBenchChain(days)
	cfg.MaxAmount = 0
	for _, source := range []string{backfill.SourceV1, backfill.SourceV3} {
		b.Run(source, func(b *testing.B) {
			sim := hirosim.New(cfg)
			url := sim.Start()
			b.Cleanup(sim.Close)
			dir := b.TempDir()
			raw := filepath.Join(dir, "raw")
			var urls []string // what the first run asked, in order
			var mu sync.Mutex
			record := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				urls = append(urls, r.URL.String())
				mu.Unlock()
				return http.DefaultTransport.RoundTrip(r)
			})
			run := func(dbName string, transport http.RoundTripper) backfill.Summary {
				b.Helper()
				st, err := store.Open(context.Background(), filepath.Join(dir, dbName), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				client, err := hiro.New(hiro.Options{BaseURL: url, RequestsPerMinute: 1e6, RequestsPerSecond: 1e5, Concurrency: 4,
					Timeout: 10 * time.Second, MaxRetries: 3, MaxWait: time.Minute, HTTPClient: &http.Client{Transport: transport}})
				if err != nil {
					b.Fatal(err)
				}
				bc := backfill.Config{Store: st, API: source, Cache: rawcache.New(raw),
					TargetDays: days + 1, Settle: 2 * time.Hour, Window: time.Hour, SegmentCell: 2000, MaxPages: 1_000_000, Concurrency: 4, Stall: time.Minute,
					LogEvery: time.Minute, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
				if source == backfill.SourceV1 {
					bc.V1 = backfill.NewV1(client)
				} else {
					bc.V3 = backfill.NewV3(client)
				}
				sum, err := backfill.Run(context.Background(), bc)
				if err != nil {
					b.Fatal(err)
				}
				return sum
			}
			sim.SetFaults(hirosim.Faults{Latency: latency})
			start := time.Now()
			fill := run("fill.duckdb", record)
			fillTook := time.Since(start)
			bare := bareFetch(b, urls, 4)
			sim.SetFaults(hirosim.Faults{})
			b.ReportMetric(bare.Seconds()/fillTook.Seconds(), "ingest_vs_bare_fetch")
			b.Logf("%s: first run (unlimited server, %s a response) %d rows in %s; a bare fetch of its %d requests, 4 at a time, %s: %.2fx",
				source, latency, fill.RowsWritten, fillTook.Round(time.Millisecond), len(urls), bare.Round(time.Millisecond), bare.Seconds()/fillTook.Seconds())
			for b.Loop() {
				b.StopTimer()
				name := fmt.Sprintf("rebuild-%d.duckdb", time.Now().UnixNano())
				before := sim.Stats()
				b.StartTimer()
				start := time.Now()
				sum := run(name, http.DefaultTransport)
				took := time.Since(start)
				b.StopTimer()
				after := sim.Stats()
				lists := after.ByRoute["/extended/v1/tx"] + after.ByRoute["/extended/v3/transactions"] -
					before.ByRoute["/extended/v1/tx"] - before.ByRoute["/extended/v3/transactions"]
				st, err := store.Open(context.Background(), filepath.Join(dir, name), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				var rows int64
				if err := st.DB().QueryRow(`SELECT count(*) FROM transactions`).Scan(&rows); err != nil {
					b.Fatal(err)
				}
				st.Close()
				jsonRows, jsonTook := timeReadJSON(b, dir, raw, source)
				rate, jsonRate := float64(rows)/took.Seconds(), float64(jsonRows)/jsonTook.Seconds()
				b.ReportMetric(rate, "rebuild_rows/s")
				b.ReportMetric(jsonRate, "read_json_rows/s")
				b.ReportMetric(rate/jsonRate, "ratio")
				b.ReportMetric(float64(lists), "list_requests")
				b.Logf("%s: rebuilt %d rows in %s (%.0f rows/s, %d cache hits, %d list requests); read_json %d rows in %s (%.0f rows/s): %.2fx; load average %s",
					source, rows, took.Round(time.Millisecond), rate, sum.CacheHits, lists, jsonRows, jsonTook.Round(time.Millisecond), jsonRate, rate/jsonRate,
					benchenv.LoadAverage())
				b.StartTimer()
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper from a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// bareFetch GETs urls, workers at a time, reading every body, and returns
// how long that took: what the server and the network allow, with no
// decoding and no database.
func bareFetch(b *testing.B, urls []string, workers int) time.Duration {
	b.Helper()
	next := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range next {
				resp, err := http.Get(u)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for _, u := range urls {
		next <- u
	}
	close(next)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("bare fetch: %d requests failed", n)
	}
	return time.Since(start)
}

// timeReadJSON loads every cached page of source under raw into a fresh
// transactions table with DuckDB's read_json (each tx_id once) and returns
// the rows loaded and how long that took.
func timeReadJSON(b *testing.B, dir, raw, source string) (int64, time.Duration) {
	b.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, fmt.Sprintf("json-%d.duckdb", time.Now().UnixNano())), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	files := filepath.Join(raw, "*", source+"_*.json.gz")
	var q string
	if source == backfill.SourceV1 {
		q = `INSERT INTO transactions SELECT DISTINCT ON (r.tx_id)
  r.tx_id, r.tx_type, r.tx_status, r.block_height, r.block_hash,
  to_timestamp(CASE WHEN r.block_time = 0 THEN r.burn_block_time ELSE r.block_time END),
  r.burn_block_height, to_timestamp(r.burn_block_time), r.tx_index, r.sender_address, r.nonce,
  r.fee_rate::UBIGINT, r.sponsored, r.sponsor_address,
  r.token_transfer.recipient_address, r.token_transfer.amount::UBIGINT, r.token_transfer.memo,
  r.contract_call.contract_id, r.contract_call.function_name, r.smart_contract.contract_id, r.canonical
FROM (SELECT unnest(results) AS r FROM read_json('` + files + `', maximum_object_size = 67108864))`
	} else {
		q = `INSERT INTO transactions SELECT DISTINCT ON (r.tx_id)
  r.tx_id, r.type, r.status, r.block.height, r.block.hash,
  to_timestamp(CASE WHEN r.block.time = 0 THEN r.bitcoin_block.time ELSE r.block.time END),
  r.bitcoin_block.height, to_timestamp(r.bitcoin_block.time), r.block.tx_index, r.sender.address, r.sender.nonce,
  r.fee_rate::UBIGINT, r.sponsor IS NOT NULL, r.sponsor.address,
  r.token_transfer.recipient, r.token_transfer.amount::UBIGINT, r.token_transfer.memo::VARCHAR,
  r.contract_call.contract_id, r.contract_call.function_name, r.smart_contract.contract_id, true
FROM (SELECT unnest(results) AS r FROM read_json('` + files + `', maximum_object_size = 67108864))`
	}
	start := time.Now()
	res, err := st.DB().Exec(q)
	if err != nil {
		b.Fatalf("read_json: %v", err)
	}
	took := time.Since(start)
	n, _ := res.RowsAffected()
	return n, took
}
