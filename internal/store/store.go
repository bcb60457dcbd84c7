package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// ErrNoDatabase means a read-only command found no database file to read.
// It exits 2, as bad input: nothing was touched, and running a writing
// command first fixes it.
var ErrNoDatabase = exitcode.New(exitcode.BadInput, errors.New("no database yet"))

// Options configure Open.
type Options struct {
	// ReadOnly opens the file without write access and never creates or
	// migrates it (BACKFILL_READ_ONLY=1, status).
	ReadOnly bool
}

// Store is an open DuckDB database with the product's schema.
type Store struct {
	path     string
	db       *sql.DB
	readOnly bool
	// writeMu serialises write transactions: DuckDB detects conflicting
	// concurrent writes optimistically and would fail one of them.
	writeMu sync.Mutex
	// keySet holds the keys of the stored tx_ids (keyset.go), read on the
	// first write. Under writeMu.
	keySet *keySet
	// fullMemory is DuckDB's memory_limit before BoundMemory lowered it
	// ("" while it has not).
	fullMemory string
}

// Open opens (creating and migrating when writable) the database at path.
// When another process holds the file it returns a *LockError naming it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %s: %w", path, err)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: read-only mode never creates it; run `mage backfill` once without BACKFILL_READ_ONLY to create the schema and load data", ErrNoDatabase, abs)
		}
	} else if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	dsn := abs
	if opts.ReadOnly {
		dsn += "?access_mode=READ_ONLY"
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, openError(abs, err)
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, openError(abs, err)
	}
	s := &Store{path: abs, db: db, readOnly: opts.ReadOnly}
	if _, err := db.ExecContext(ctx, "SET TimeZone = 'UTC'"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: set time zone: %w", abs, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		diskFull(&err)
		return nil, err
	}
	if !opts.ReadOnly {
		if _, err := db.ExecContext(ctx, ensureVersion); err != nil {
			db.Close()
			diskFull(&err)
			return nil, fmt.Errorf("open %s: data version: %w", abs, err)
		}
		// Registered outside any transaction: a function added inside one
		// would vanish with its rollback.
		if err := s.registerFeed(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: %w", abs, err)
		}
	}
	return s, nil
}

// openError turns DuckDB's open failures into errors that say what to do.
func openError(path string, err error) error {
	if le := parseLockError(path, err); le != nil {
		return le
	}
	if diskFull(&err); errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("open %s: the disk is full: free space and run again (nothing was written): %w", path, err)
	}
	return fmt.Errorf("open database %s: %w", path, err)
}

// diskFull makes *err match syscall.ENOSPC when DuckDB says the disk is
// full. DuckDB reports I/O failures as text (its C API carries no errno),
// so this is the one place that reads the message; callers test
// errors.Is(err, syscall.ENOSPC) whichever layer ran out of space. Write
// methods defer it on their named error result.
func diskFull(err *error) {
	if *err != nil && !errors.Is(*err, syscall.ENOSPC) && strings.Contains((*err).Error(), "No space left on device") {
		*err = noSpaceError{*err}
	}
}

// noSpaceError is a DuckDB error that also matches syscall.ENOSPC; its
// message is DuckDB's.
type noSpaceError struct{ error }

func (e noSpaceError) Unwrap() []error { return []error{e.error, syscall.ENOSPC} }

// Path is the database file's absolute path.
func (s *Store) Path() string { return s.path }

// DB is the database handle, for packages that only query (dashboards).
func (s *Store) DB() *sql.DB { return s.db }

// BackfillMemoryLimit is DuckDB's memory_limit while a backfill holds the
// database. The transactions table has no index to keep in memory
// (keys.go), so what DuckDB holds is its cache of the file's blocks and
// the rows not yet checkpointed, and a backfill reads back little of what
// it wrote: the limit costs it nothing measurable, and the cache would
// otherwise grow towards 80 % of the machine's memory.
const BackfillMemoryLimit = "64MB"

// BoundMemory holds DuckDB to BackfillMemoryLimit for the rest of the
// store's life (the setting is the database's); beyond it DuckDB evicts
// cached blocks. The set-based steps of a staged bulk load (a DISTINCT ON
// and joins over every staged row) cannot work in that little, so they
// run with the limit DuckDB had before (withFullMemory).
func (s *Store) BoundMemory(ctx context.Context) error {
	if err := s.db.QueryRowContext(ctx, "SELECT current_setting('memory_limit')").Scan(&s.fullMemory); err != nil {
		return fmt.Errorf("bound memory: %w", err)
	}
	if err := setMemoryLimit(ctx, s.db, BackfillMemoryLimit); err != nil {
		return fmt.Errorf("bound memory: %w", err)
	}
	return nil
}

// withFullMemory lifts BoundMemory's limit while fn runs, when it is set.
// Under writeMu, so no other write of this process runs meanwhile.
func (s *Store) withFullMemory(ctx context.Context, fn func() error) error {
	if s.fullMemory == "" {
		return fn()
	}
	if err := setMemoryLimit(ctx, s.db, s.fullMemory); err != nil {
		return fmt.Errorf("lift the memory limit: %w", err)
	}
	err := fn()
	if rerr := setMemoryLimit(context.WithoutCancel(ctx), s.db, BackfillMemoryLimit); rerr != nil && err == nil {
		err = fmt.Errorf("bound memory again: %w", rerr)
	}
	return err
}

// setMemoryLimit sets DuckDB's memory_limit (a size DuckDB itself wrote or
// a constant of this package, never user input).
func setMemoryLimit(ctx context.Context, db *sql.DB, limit string) error {
	_, err := db.ExecContext(ctx, "SET memory_limit = '"+strings.ReplaceAll(limit, "'", "''")+"'")
	return err
}

// PendingWALBytes is the size of the write-ahead log next to the database
// at path (0 when there is none): what the next open replays.
func PendingWALBytes(path string) int64 {
	st, err := os.Stat(path + ".wal")
	if err != nil {
		return 0
	}
	return st.Size()
}

// Close checkpoints and closes the database, so the file is
// self-contained: a database copied after a clean exit holds every
// committed row without its .wal, and no read-only open (status,
// dashboards) has a log to replay.
func (s *Store) Close() error {
	if !s.readOnly {
		_, _ = s.db.Exec("CHECKPOINT")
	}
	defer s.releaseKeys()
	return s.db.Close()
}

// releaseKeys frees the key set's memory, which is not the Go heap's
// (keyarena.go): a closed store's set is never used again. It waits for
// writeMu, which every write releases on every path (a SeedLoad when it
// is finished or aborted).
func (s *Store) releaseKeys() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.keySet.release()
	s.keySet = nil
}

// CloseWithoutCheckpoint closes the database and leaves the WAL as it is,
// for a process that must exit promptly (after Ctrl+C): every committed
// transaction is in the WAL, and the next Open replays it.
func (s *Store) CloseWithoutCheckpoint() error {
	if !s.readOnly {
		// DuckDB checkpoints on close by default, which takes as long as
		// the CHECKPOINT Close runs.
		_, _ = s.db.Exec("PRAGMA disable_checkpoint_on_shutdown")
	}
	defer s.releaseKeys()
	return s.db.Close()
}

// migrate applies the migrations the file lacks, in one transaction.
func (s *Store) migrate(ctx context.Context) error {
	var have int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' AND table_schema = 'main'`).Scan(&have)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	version := 0
	if have > 0 {
		if err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_version`).Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
	}
	switch {
	case version == len(migrations):
		return nil
	case version > len(migrations):
		return fmt.Errorf("database %s has schema version %d, newer than this build knows (%d): update the tool", s.path, version, len(migrations))
	case s.readOnly:
		return fmt.Errorf("database %s has schema version %d but this build needs %d, and read-only mode cannot migrate it: run any command once without BACKFILL_READ_ONLY", s.path, version, len(migrations))
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if version == 0 {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate %s to version %d: %w", s.path, i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, i+1); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", s.path, err)
	}
	return nil
}

// connTx is a transaction opened with BEGIN on one connection of the pool:
// the writers that append through the driver's raw connection (the
// Appender, a row feed) need the transaction on that connection, which
// database/sql's Tx does not give.
type connTx struct {
	ctx  context.Context
	conn *sql.Conn
	done bool
}

// beginOn opens a transaction on conn. Defer rollback, which undoes it
// unless commit succeeded.
func beginOn(ctx context.Context, conn *sql.Conn) (*connTx, error) {
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return nil, err
	}
	return &connTx{ctx: ctx, conn: conn}, nil
}

// commit commits the transaction.
func (t *connTx) commit() error {
	if _, err := t.conn.ExecContext(t.ctx, "COMMIT"); err != nil {
		return err
	}
	t.done = true
	return nil
}

// rollback undoes the transaction if it was not committed, even after the
// context is cancelled.
func (t *connTx) rollback() {
	if !t.done {
		_, _ = t.conn.ExecContext(context.WithoutCancel(t.ctx), "ROLLBACK")
	}
}
