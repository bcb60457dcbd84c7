package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/chain"
)

// A row feed hands rows produced in Go to one INSERT … SELECT through a
// table function: the producer converts rows on its own goroutine while
// DuckDB fills vectors from the queued chunks and inserts them
// (docs/design.md#database-seed, "Seed speed").
//
// DuckDB reads the feed on two threads (see Init), each filling whole
// chunks, so the cgo calls that set every value are split between the
// cores. While the transactions table had its key on tx_id, a feed read
// on several threads kept every thread's rows in memory until the
// statement ended (1.07M seed rows: 760–780 MB against 544–597 MB on one
// thread, BenchmarkSeedLoad); without the key the peak is the same on one
// thread and on two (217–233 MB and 218–249 MB), and two load the 1.08M
// rows in 6.4–7.1 s against 7.2–8.4 s.

// feedQueue is how many full chunks wait between the producer and DuckDB.
const feedQueue = 8

// errFeedStopped is what put returns once the statement reading the feed
// has ended (it failed): the producer must stop.
var errFeedStopped = errors.New("the insert reading the rows has stopped")

// feedFunc is the table function every feed of a database reads through;
// its one argument picks the feed in feeds.
const feedFunc = "walletcache_feed"

// feeds holds the feeds whose statements are running, by id. A feed is in
// it only while its statement runs, so nothing of it outlives the insert
// (a table function's own state lives until the database closes).
var (
	feeds   sync.Map // int64 -> *txFeed
	feedSeq atomic.Int64
)

// txFeed is the table source behind one feed.
type txFeed struct {
	chunks chan []chain.Tx // full chunks, closed when the producer returns
	free   chan []chain.Tx // chunks to reuse
	stop   chan struct{}   // closed when the statement has returned
	mu     sync.Mutex
	err    error // the producer's error, set before chunks is closed
}

// registerFeed adds feedFunc to the store's database (at Open).
func (s *Store) registerFeed(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("register the row feed: %w", err)
	}
	defer conn.Close()
	id, err := duckdb.NewTypeInfo(duckdb.TYPE_BIGINT)
	if err != nil {
		return fmt.Errorf("register the row feed: %w", err)
	}
	err = duckdb.RegisterTableUDF(conn, feedFunc, duckdb.ParallelChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{id}},
		BindArguments: func(_ map[string]any, args ...any) (duckdb.ParallelChunkTableSource, error) {
			id, _ := args[0].(int64)
			f, ok := feeds.Load(id)
			if !ok {
				return nil, fmt.Errorf("no row feed %d is running", id)
			}
			return f.(*txFeed), nil
		},
	})
	if err != nil {
		return fmt.Errorf("register the row feed: %w", err)
	}
	return nil
}

// feedRows runs `INSERT INTO table SELECT * FROM walletcache_feed(id)` on
// conn while produce calls put with batches of rows in the column order of
// the transactions table (put copies them, so a batch may be reused once
// put returns). Every row's tx_id goes into the store's key set (keys.go),
// table being transactions or a stage for it. It returns how many rows
// the statement inserted, and those the key set had seen before: rows
// that may already be stored, which the caller must replace or check.
// An error of produce is returned as it is, unless it is only put's report
// that the statement stopped: then, and otherwise, the statement's error
// is.
func (s *Store) feedRows(ctx context.Context, conn *sql.Conn, table string, produce func(put func([]chain.Tx) error) error) (inserted int64, maybe maybeStored, err error) {
	set, err := s.keys(ctx)
	if err != nil {
		return 0, maybe, err
	}
	f := &txFeed{
		chunks: make(chan []chain.Tx, feedQueue),
		free:   make(chan []chain.Tx, feedQueue+4),
		stop:   make(chan struct{}),
	}
	id := feedSeq.Add(1)
	feeds.Store(id, f)
	defer feeds.Delete(id)
	// Row order in the table carries no meaning here (every reader sorts),
	// and keeping it would serialise the insert. The setting is the
	// database's, not the connection's: it is set and reset through the
	// pool, not conn, whose transaction a failed insert leaves aborted.
	// Feeds run under writeMu, so they never overlap.
	if _, err := s.db.ExecContext(ctx, "SET preserve_insertion_order = false"); err != nil {
		return 0, maybe, fmt.Errorf("row feed: %w", err)
	}
	defer func() { _, _ = s.db.ExecContext(context.WithoutCancel(ctx), "RESET preserve_insertion_order") }()

	produced := make(chan error, 1)
	put := func(rows []chain.Tx) error {
		noteKeys(set, rows, &maybe)
		return f.put(rows)
	}
	go func() {
		err := produce(put)
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		close(f.chunks)
		produced <- err
	}()
	res, execErr := conn.ExecContext(ctx, `INSERT INTO `+table+` SELECT * FROM `+feedFunc+`(?)`, id)
	close(f.stop)
	for range f.chunks { // unblock a producer still sending
	}
	// The producer has returned: maybe is final.
	if err := <-produced; err != nil && !errors.Is(err, errFeedStopped) {
		return 0, maybe, err
	}
	if execErr != nil {
		return 0, maybe, execErr
	}
	n, _ := res.RowsAffected()
	return n, maybe, nil
}

// put copies rows into chunks of DuckDB's vector size and queues them.
func (f *txFeed) put(rows []chain.Tx) error {
	size := duckdb.GetDataChunkCapacity()
	for len(rows) > 0 {
		n := min(size, len(rows))
		var c []chain.Tx
		select {
		case c = <-f.free:
		default:
			c = make([]chain.Tx, 0, size)
		}
		clear(c[:cap(c)]) // a reused chunk keeps no strings of its last rows
		c = append(c[:0], rows[:n]...)
		rows = rows[n:]
		select {
		case f.chunks <- c:
		case <-f.stop:
			return errFeedStopped
		}
	}
	return nil
}

// ColumnInfos is the transactions table's columns.
func (f *txFeed) ColumnInfos() []duckdb.ColumnInfo { return txColumns }

// Cardinality is unknown until the producer ends.
func (f *txFeed) Cardinality() *duckdb.CardinalityInfo { return nil }

// Init asks DuckDB to read the feed on two threads (the file comment says
// why); each call of FillChunk takes a whole chunk from the queue.
func (f *txFeed) Init() duckdb.ParallelTableSourceInfo {
	return duckdb.ParallelTableSourceInfo{MaxThreads: 2}
}

// NewLocalState is unused: every call takes a whole chunk from the queue.
func (f *txFeed) NewLocalState() any { return new(struct{}) }

// FillChunk writes the next queued chunk into out, or ends the scan (size
// 0) when the producer has returned; a failed producer fails the statement.
func (f *txFeed) FillChunk(_ any, out duckdb.DataChunk) error {
	c, ok := <-f.chunks
	if !ok {
		f.mu.Lock()
		err := f.err
		f.mu.Unlock()
		if err != nil {
			return err
		}
		return out.SetSize(0)
	}
	for i := range c {
		if err := fillTx(out, i, &c[i]); err != nil {
			return fmt.Errorf("row %s: %w", c[i].TxID, err)
		}
	}
	n := len(c)
	select {
	case f.free <- c[:0]:
	default:
	}
	return out.SetSize(n)
}

// txColumns is the transactions table's columns as fillTx writes them.
var txColumns = txColumnInfos()

func txColumnInfos() []duckdb.ColumnInfo {
	types := []struct {
		name string
		t    duckdb.Type
	}{
		{"tx_id", duckdb.TYPE_VARCHAR}, {"tx_type", duckdb.TYPE_VARCHAR}, {"tx_status", duckdb.TYPE_VARCHAR},
		{"block_height", duckdb.TYPE_BIGINT}, {"block_hash", duckdb.TYPE_VARCHAR}, {"block_time", duckdb.TYPE_TIMESTAMP_TZ},
		{"burn_block_height", duckdb.TYPE_BIGINT}, {"burn_block_time", duckdb.TYPE_TIMESTAMP_TZ}, {"tx_index", duckdb.TYPE_INTEGER},
		{"sender_address", duckdb.TYPE_VARCHAR}, {"nonce", duckdb.TYPE_BIGINT}, {"fee_rate", duckdb.TYPE_UBIGINT},
		{"sponsored", duckdb.TYPE_BOOLEAN}, {"sponsor_address", duckdb.TYPE_VARCHAR},
		{"token_transfer_recipient_address", duckdb.TYPE_VARCHAR}, {"token_transfer_amount", duckdb.TYPE_UBIGINT},
		{"token_transfer_memo", duckdb.TYPE_VARCHAR}, {"contract_call_contract_id", duckdb.TYPE_VARCHAR},
		{"contract_call_function_name", duckdb.TYPE_VARCHAR}, {"smart_contract_contract_id", duckdb.TYPE_VARCHAR},
		{"canonical", duckdb.TYPE_BOOLEAN},
	}
	out := make([]duckdb.ColumnInfo, len(types))
	for i, c := range types {
		ti, err := duckdb.NewTypeInfo(c.t)
		if err != nil {
			panic(err) // a primitive type always has a TypeInfo
		}
		out[i] = duckdb.ColumnInfo{Name: c.name, T: ti}
	}
	return out
}

// fillTx writes t into row of c with typed setters (no boxing), in the
// column order of the transactions table, the same values appendTx gives
// the Appender; TestFeedAndAppenderAgree holds the two together.
func fillTx(c duckdb.DataChunk, row int, t *chain.Tx) error {
	optional := func(col int, v string) error {
		if v == "" {
			return c.SetValue(col, row, nil)
		}
		return duckdb.SetChunkValue(c, col, row, v)
	}
	amount := func() error {
		if t.TxType != "token_transfer" {
			return c.SetValue(15, row, nil)
		}
		return duckdb.SetChunkValue(c, 15, row, t.TokenTransferAmount)
	}
	return errors.Join(
		duckdb.SetChunkValue(c, 0, row, t.TxID),
		duckdb.SetChunkValue(c, 1, row, t.TxType),
		duckdb.SetChunkValue(c, 2, row, t.TxStatus),
		duckdb.SetChunkValue(c, 3, row, t.BlockHeight),
		duckdb.SetChunkValue(c, 4, row, t.BlockHash),
		duckdb.SetChunkValue(c, 5, row, t.BlockTime.UTC()),
		duckdb.SetChunkValue(c, 6, row, t.BurnBlockHeight),
		duckdb.SetChunkValue(c, 7, row, t.BurnBlockTime.UTC()),
		duckdb.SetChunkValue(c, 8, row, int32(t.TxIndex)),
		duckdb.SetChunkValue(c, 9, row, t.SenderAddress),
		duckdb.SetChunkValue(c, 10, row, t.Nonce),
		duckdb.SetChunkValue(c, 11, row, t.FeeRate),
		duckdb.SetChunkValue(c, 12, row, t.Sponsored),
		optional(13, t.SponsorAddress),
		optional(14, t.TokenTransferRecipientAddress),
		amount(),
		optional(16, t.TokenTransferMemo),
		optional(17, t.ContractCallContractID),
		optional(18, t.ContractCallFunctionName),
		optional(19, t.SmartContractContractID),
		duckdb.SetChunkValue(c, 20, row, t.Canonical),
	)
}
