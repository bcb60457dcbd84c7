// Package store owns the DuckDB file: schema, bulk loading, window
// bookkeeping, coverage and lock diagnostics. It is the only package that
// imports the DuckDB driver, so only it pays the cgo build.
package store

// migrations create and upgrade the schema, in order. The database records
// how many have been applied in schema_version; Open applies the rest inside
// one transaction, so a killed process never leaves half a schema behind.
// Append new steps; never edit a step that has shipped.
var migrations = []string{
	// 1: the transactions table (docs/design.md#database) and the backfill
	// bookkeeping.
	`
CREATE TABLE transactions (
    tx_id                            VARCHAR PRIMARY KEY,
    tx_type                          VARCHAR NOT NULL,
    tx_status                        VARCHAR NOT NULL,
    block_height                     BIGINT NOT NULL,
    block_hash                       VARCHAR NOT NULL,
    block_time                       TIMESTAMPTZ NOT NULL,
    burn_block_height                BIGINT NOT NULL,
    burn_block_time                  TIMESTAMPTZ NOT NULL,
    tx_index                         INTEGER NOT NULL,
    sender_address                   VARCHAR NOT NULL,
    nonce                            BIGINT NOT NULL,
    fee_rate                         UBIGINT NOT NULL,   -- exact µSTX
    sponsored                        BOOLEAN NOT NULL,
    sponsor_address                  VARCHAR,
    token_transfer_recipient_address VARCHAR,
    token_transfer_amount            UBIGINT,            -- exact µSTX
    token_transfer_memo              VARCHAR,
    contract_call_contract_id        VARCHAR,
    contract_call_function_name      VARCHAR,
    smart_contract_contract_id       VARCHAR,
    canonical                        BOOLEAN NOT NULL
);

-- One row per time window on burn_block_time, both ends inclusive, in unix
-- seconds. A window is covered only when verified and final.
CREATE TABLE windows (
    window_id     BIGINT PRIMARY KEY,
    start_time    BIGINT NOT NULL,
    end_time      BIGINT NOT NULL,
    source        VARCHAR NOT NULL,     -- v1 | v3 | postgres | archive (a seed)
    attempt       INTEGER NOT NULL,     -- bumps each time the window is fetched afresh
    api_total     BIGINT,               -- what the API said the window holds
    stored_rows   BIGINT,               -- what was stored when it was verified
    verified      BOOLEAN NOT NULL,
    final         BOOLEAN NOT NULL,     -- the tip was past end + settle margin when fetched
    verified_at   TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Pages of the current attempt of a window that are committed.
CREATE TABLE window_pages (
    window_id   BIGINT NOT NULL,
    attempt     INTEGER NOT NULL,
    page_offset BIGINT NOT NULL,
    api_total   BIGINT NOT NULL,
    rows        INTEGER NOT NULL,
    PRIMARY KEY (window_id, attempt, page_offset)
);

-- tx_ids the current attempt of a window has seen; at the end of the attempt
-- stored rows of the window that were not seen have left the canonical chain.
CREATE TABLE window_seen (
    window_id BIGINT NOT NULL,
    attempt   INTEGER NOT NULL,
    tx_id     VARCHAR NOT NULL
);

-- One row per backfill run, for status and for the operator's history.
CREATE TABLE runs (
    run_id        BIGINT PRIMARY KEY,
    pid           INTEGER NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    outcome       VARCHAR NOT NULL,     -- running | complete | partial | interrupted | failed | killed
    source        VARCHAR NOT NULL,
    pages         BIGINT NOT NULL,
    requests      BIGINT NOT NULL,
    retries       BIGINT NOT NULL,
    throttled     BIGINT NOT NULL,      -- 429 answers
    rows_written  BIGINT NOT NULL,
    rows_deleted  BIGINT NOT NULL,
    cache_hits    BIGINT NOT NULL,
    coverage_pct  DOUBLE,
    message       VARCHAR
);

-- Small facts the backfill leaves for status: the last chain tip it saw.
CREATE TABLE meta (
    key        VARCHAR PRIMARY KEY,
    value      VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Observed daily STX/USD prices (never filled; filling happens in queries).
CREATE TABLE prices (
    price_date  DATE PRIMARY KEY,
    price_usd   DOUBLE NOT NULL,
    source      VARCHAR NOT NULL,     -- coingecko | csv
    fetched_at  TIMESTAMPTZ NOT NULL
);
`,
	// 2: the v3 cursor source's work units. A segment is a range of Stacks
	// block heights walked downward along the keyset cursor; each page's rows
	// and the segment's next cursor commit together.
	`
CREATE TABLE segments (
    segment_id   BIGINT PRIMARY KEY,
    run_id       BIGINT NOT NULL,       -- the run that planned it
    source       VARCHAR NOT NULL DEFAULT 'v3',
    lo           BIGINT NOT NULL,       -- lowest block height it owns
    hi           BIGINT,                -- highest; NULL: open, starts at the chain tip
    final        BOOLEAN NOT NULL,      -- every row it owns was final when planned
    started      BOOLEAN NOT NULL,
    next_cursor  VARCHAR,               -- where the walk continues
    top_height   BIGINT,                -- the height the walk started at
    reconciled   BIGINT NOT NULL,       -- heights above this (and >= lo) are reconciled
    done         BOOLEAN NOT NULL,
    bottom       BOOLEAN NOT NULL,      -- nothing exists below lo
    attempt      INTEGER NOT NULL,
    pages        BIGINT NOT NULL,
    rows         BIGINT NOT NULL,
    min_burn     BIGINT,                -- burn_block_time range of the rows it kept
    max_burn     BIGINT,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- tx_ids a segment has seen in heights it has not yet passed below: when the
-- walk passes below a height, stored rows of it that were not seen have left
-- the canonical chain and are deleted.
CREATE TABLE segment_seen (
    segment_id   BIGINT NOT NULL,
    attempt      INTEGER NOT NULL,
    block_height BIGINT NOT NULL,
    tx_id        VARCHAR NOT NULL
);
`,
	// 3: transactions without the key on tx_id, which DuckDB keeps in
	// memory at about 200 bytes a row; the store keeps tx_ids unique
	// (keys.go). DuckDB cannot drop a primary key, so the table is copied
	// into one whose columns restate step 1's (a shipped step is never
	// edited, so the two cannot share a definition).
	`
CREATE TABLE transactions_unkeyed (
    tx_id                            VARCHAR NOT NULL,
    tx_type                          VARCHAR NOT NULL,
    tx_status                        VARCHAR NOT NULL,
    block_height                     BIGINT NOT NULL,
    block_hash                       VARCHAR NOT NULL,
    block_time                       TIMESTAMPTZ NOT NULL,
    burn_block_height                BIGINT NOT NULL,
    burn_block_time                  TIMESTAMPTZ NOT NULL,
    tx_index                         INTEGER NOT NULL,
    sender_address                   VARCHAR NOT NULL,
    nonce                            BIGINT NOT NULL,
    fee_rate                         UBIGINT NOT NULL,   -- exact µSTX
    sponsored                        BOOLEAN NOT NULL,
    sponsor_address                  VARCHAR,
    token_transfer_recipient_address VARCHAR,
    token_transfer_amount            UBIGINT,            -- exact µSTX
    token_transfer_memo              VARCHAR,
    contract_call_contract_id        VARCHAR,
    contract_call_function_name      VARCHAR,
    smart_contract_contract_id       VARCHAR,
    canonical                        BOOLEAN NOT NULL
);
INSERT INTO transactions_unkeyed SELECT * FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_unkeyed RENAME TO transactions;
`,
}

// Migrations returns the schema steps in order, for tests of other packages
// that need the real tables in a scratch database without going through Open.
func Migrations() []string { return append([]string(nil), migrations...) }
