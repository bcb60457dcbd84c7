// Package seed reads a year of Stacks transactions straight from a
// stacks-blockchain-api PostgreSQL database, or from a pg_dump archive of
// one (Hiro publishes the mainnet database that way), instead of paging the
// public API. It hands out chain.Tx rows identical to what internal/hiro
// decodes from GET /extended/v1/tx for the same transactions.
//
// # Readers
//
// Two readers satisfy Reader:
//
//   - OpenPostgres(ctx, url, schema) connects with pgx and holds one
//     REPEATABLE READ, read-only transaction for its whole life, so Tip,
//     Count and Scan agree however long the backfill takes. Scan filters a
//     burn_block_time range (txs_burn_block_time_index) and streams through
//     the binary protocol; Count gives the same range's row count in the
//     same snapshot, which is how a window is verified.
//   - OpenArchive(ctx, file, opts) needs no server: it runs pg_restore
//     --data-only for one table with its output on stdout and parses the
//     COPY text. An archive is one sequential stream in storage order, so
//     every Scan is a full pass whatever the range: scan the whole horizon
//     once, route rows into windows by BurnBlockTime, and take each
//     window's count from that pass (the file cannot change under it).
//
// Both check, at open, the schema (auto: stacks_blockchain_api, which
// Hiro's dumps use, else public), the API version (pgmigrations), and the
// tables and columns read, and report any failure as an *Error: one
// sentence, no password, of a kind (ErrConnect, ErrAuth, ErrSchema,
// ErrMissingTable, ErrVersion, ErrArchive, ErrPgRestore) the caller maps to
// exit 2. Data problems met while scanning are *RowError (ErrBadRow).
//
// Rows near the tip are not final: the API reorganises by flipping
// canonical in place. Tip returns the snapshot's tip and a deep Anchor
// block; the caller leaves windows near the tip to the API and can compare
// the anchor's hash with the API's block at that height to prove both
// serve the same chain.
//
// # Which rows
//
// Exactly those the API lists: canonical AND microblock_canonical AND
// block_height <= chain_tip.block_height. The same tx_id can sit in
// several txs rows (fork blocks, orphaned microblocks); this filter, the
// API's own, drops the ones off the canonical chain.
//
// # Conversion (Row.Tx)
//
// bytea columns (tx_id, block_hash, token_transfer_memo) become "0x" and
// lowercase hex, "0x" when empty. block_time 0 (pre-Nakamoto blocks) is
// replaced by burn_block_time, as the API does. fee_rate and
// token_transfer_amount are bigint µSTX, kept exact as uint64; a negative
// one is an error. A NULL sponsor_address is "", as the API omits it from
// its JSON. The type-specific columns are kept only for their own type
// (token_transfer: recipient, amount, memo; contract_call: contract id and
// function name; smart_contract: contract id), as the API renders only the
// object of the transaction's type.
//
// type_id codes and the API's tx_type:
//
//	0 token_transfer        3 poison_microblock     6 smart_contract (versioned, Clarity 2+)
//	1 smart_contract        4 coinbase              7 tenure_change
//	2 contract_call         5 coinbase (to an       8 coinbase (Nakamoto, with a VRF proof)
//	                          alternative recipient)
//
// status codes and the API's tx_status:
//
//	 1 success                   -2 abort_by_post_condition
//	-1 abort_by_response         -3 problematic_skipped (API v9.0.2 and later)
//
// Any other code is an error: 0 (pending) and -10 to -15 (dropped_*) belong
// to the mempool and cannot describe a mined transaction.
//
// # Archives and pg_restore
//
// pg_restore reads only archives of its own format version or older. Hiro's
// current dumps are written by PostgreSQL 17 (format 1.16) and need
// pg_restore 17 or newer; Debian 12 ships 15. OpenArchive reads the file's
// header, looks for the newest /usr/lib/postgresql/<major>/bin/pg_restore
// (ArchiveOptions.PgRestore overrides it), and when pg_restore refuses the
// format says which release is needed and which binary was tried.
//
// Package pgtest holds the test side: a throw-away server, a loader that
// writes a chain into the API's real schema with trap rows, and pg_dump.
package seed
