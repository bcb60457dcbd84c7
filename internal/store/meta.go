package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Meta keys the product uses.
const (
	MetaTipBurnTime = "tip_burn_block_time" // unix seconds, from the last iteration's tip
	MetaTipHeight   = "tip_block_height"
	// MetaChainAnchor is "height:hash" of a final block of the chain that
	// filled the database: a server whose block at that height has another
	// hash serves another chain.
	MetaChainAnchor = "chain_anchor"
	// MetaServerLimits is the JSON of what the server last demanded of the
	// rate budget (progress.Limits), as the last run saw it.
	MetaServerLimits = "server_limits"
)

// SetMeta stores key = value.
func (s *Store) SetMeta(ctx context.Context, key, value string) (err error) {
	defer diskFull(&err)
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value, updated_at) VALUES (?, ?, now())`, key, value); err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	return nil
}

// Meta reads key; ok is false when it was never set.
func (s *Store) Meta(ctx context.Context, key string) (value string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&value)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	return value, true, nil
}
