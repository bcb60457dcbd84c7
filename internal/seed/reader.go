package seed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Reader is what the backfill needs from a seed, whichever its kind.
type Reader interface {
	// Kind is KindPostgres or KindArchive, for logs, the summary, status
	// and the source of the windows a seed fills.
	Kind() string
	// Tip is the chain tip of the seed's snapshot. It is read once at
	// open; every row a reader hands out is at or below Tip().Height.
	Tip(ctx context.Context) (Tip, error)
	// Scan calls fn with batches of the final rows (see Row.Final) whose
	// burn_block_time lies in [start, end] (unix seconds, both inclusive)
	// and returns how many it handed out. fn runs in the caller's
	// goroutine while the reader prepares the next batch; the batch slice
	// is reused: fn must copy what it keeps. An error from fn stops the scan and is
	// returned as it is; after any error the reader must be closed.
	Scan(ctx context.Context, start, end int64, fn func([]chain.Tx) error) (int64, error)
	// Close releases the connection or the pg_restore process.
	Close() error
}

// BatchSize is the most rows Scan hands to fn at once.
const BatchSize = 4096

// The kinds of seed, as Reader.Kind names them.
const (
	KindPostgres = "postgres" // a stacks-blockchain-api PostgreSQL database
	KindArchive  = "archive"  // a pg_dump archive of one, read with pg_restore
)

// AnchorDepth is how far below the tip Tip.Anchor is taken: deep enough to
// be final on any network, so the caller can compare its hash with the
// API's block at the same height to prove both serve the same chain.
const AnchorDepth = 1000

// Block names one canonical Stacks block.
type Block struct {
	Height        int64
	Hash          string // block_hash, 0x-hex
	IndexHash     string // index_block_hash, 0x-hex
	BurnBlockTime time.Time
}

// Tip describes a seed's snapshot.
type Tip struct {
	// Block is the chain tip: chain_tip, with its burn time from blocks
	// or else from the tip's txs rows. An archive without either leaves
	// BurnBlockTime zero (then no window counts as final).
	Block
	BurnBlockHeight int64
	// Anchor is the lowest canonical block at or above Height-AnchorDepth:
	// a final block identifying the chain.
	Anchor Block
	// Schema holds the API tables ("stacks_blockchain_api" or "public").
	Schema string
	// Migration is the newest pgmigrations entry, e.g.
	// "1778599015338_principal-tx-balance-changes": the API schema version.
	Migration string
}

// Version rules. node-pg-migrate records each migration the API ran in
// pgmigrations under a name that starts with its millisecond timestamp.
// Releases before v9 have one file per change; the txs columns this package
// reads are complete from 1714725791998_tx-burn-height (API v7.11.0), and
// 1718632097776_tx-sort-indexes (v7.x) adds txs_burn_block_time_index.
// v9.0.0 squashed the history into files numbered 16000000000NN, one per
// table, which are older by timestamp but hold the final columns.
const (
	minMigration     = 1714725791998
	squashedFirst    = 1600000000000
	squashedLast     = 1600000000999
	minMigrationName = "1714725791998_tx-burn-height (stacks-blockchain-api v7.11.0)"
)

// checkMigrations returns the newest migration name, or an ErrVersion
// sentence when the names predate what this package reads.
func checkMigrations(names []string, where string) (string, error) {
	var newest int64 = -1
	newestName := ""
	supported := false
	for _, n := range names {
		prefix, _, _ := strings.Cut(n, "_")
		ts, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			continue // not a node-pg-migrate name; ignore it
		}
		if ts >= minMigration || (ts >= squashedFirst && ts <= squashedLast) {
			supported = true
		}
		if ts > newest {
			newest, newestName = ts, n
		}
	}
	switch {
	case newestName == "":
		return "", &Error{Kind: ErrVersion, Msg: fmt.Sprintf(
			"%s: pgmigrations lists no migration, so this is not a stacks-blockchain-api database the seed can read", where)}
	case !supported:
		return "", &Error{Kind: ErrVersion, Msg: fmt.Sprintf(
			"%s: the stacks-blockchain-api schema is too old (newest migration %s); the seed needs %s or later", where, newestName, minMigrationName)}
	}
	return newestName, nil
}

// requiredColumns are the columns each table must have.
var requiredColumns = map[string][]string{
	"txs":       txsColumns,
	"chain_tip": {"block_height", "block_hash", "index_block_hash", "burn_block_height"},
	"blocks":    {"index_block_hash", "block_hash", "block_height", "burn_block_time", "canonical"},
}

// requiredTables lists the tables a seed must have, in the order checks
// report them. blocks is optional: it gives the tip's burn time and the
// anchor, which otherwise come from the txs rows of those blocks.
var requiredTables = []string{"txs", "chain_tip"}

// Config names a seed as the product's settings do (seed.postgres_url,
// seed.postgres_schema, seed.archive_dump); the caller applies the
// STACKS_API_PG_URL and STACKS_API_ARCHIVE_DUMP overrides first.
type Config struct {
	PostgresURL    string
	PostgresSchema string // SchemaAuto when empty
	ArchiveDump    string
	PgRestore      string // the archive's pg_restore; empty: look it up
}

// Open opens the configured seed: the database when PostgresURL is set (a
// live database is newer than any dump), else the archive. With neither it
// returns nil and no error: the backfill then runs from the API alone.
func Open(ctx context.Context, cfg Config) (Reader, error) {
	switch {
	case cfg.PostgresURL != "":
		p, err := OpenPostgres(ctx, cfg.PostgresURL, cfg.PostgresSchema)
		if err != nil {
			return nil, err
		}
		return p, nil
	case cfg.ArchiveDump != "":
		a, err := OpenArchive(ctx, cfg.ArchiveDump, ArchiveOptions{Schema: cfg.PostgresSchema, PgRestore: cfg.PgRestore})
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	return nil, nil
}
