package pgtest

// The tables below follow the stacks-blockchain-api migrations (v9, which
// gives the same txs columns as v8.x): column names, types, NOT NULLs, the
// unique key and the per-type CHECKs of txs, the one-row chain_tip table and
// node-pg-migrate's pgmigrations. Indexes are created after the load, as a
// restore does, with the API's names.

const createTables = `
CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE %[1]s.pgmigrations (
	id serial PRIMARY KEY,
	name varchar(255) NOT NULL,
	run_on timestamp NOT NULL
);
CREATE TABLE %[1]s.txs (
	id serial PRIMARY KEY,
	tx_id bytea NOT NULL,
	tx_index smallint NOT NULL,
	raw_result bytea NOT NULL,
	index_block_hash bytea NOT NULL,
	block_hash bytea NOT NULL,
	block_height integer NOT NULL,
	parent_block_hash bytea NOT NULL,
	burn_block_time integer NOT NULL,
	parent_burn_block_time integer NOT NULL,
	type_id smallint NOT NULL,
	anchor_mode smallint NOT NULL,
	status smallint NOT NULL,
	canonical boolean NOT NULL,
	post_conditions bytea NOT NULL,
	nonce integer NOT NULL,
	fee_rate bigint NOT NULL,
	sponsored boolean NOT NULL,
	sponsor_address text,
	sponsor_nonce integer,
	sender_address text NOT NULL,
	origin_hash_mode smallint NOT NULL,
	event_count integer NOT NULL,
	execution_cost_read_count bigint NOT NULL,
	execution_cost_read_length bigint NOT NULL,
	execution_cost_runtime bigint NOT NULL,
	execution_cost_write_count bigint NOT NULL,
	execution_cost_write_length bigint NOT NULL,
	raw_tx bytea NOT NULL,
	microblock_canonical boolean NOT NULL,
	microblock_sequence integer NOT NULL,
	microblock_hash bytea NOT NULL,
	parent_index_block_hash bytea NOT NULL,
	token_transfer_recipient_address text,
	token_transfer_amount bigint,
	token_transfer_memo bytea,
	smart_contract_clarity_version smallint,
	smart_contract_contract_id text,
	smart_contract_source_code text,
	contract_call_contract_id text,
	contract_call_function_name text,
	contract_call_function_args bytea,
	poison_microblock_header_1 bytea,
	poison_microblock_header_2 bytea,
	coinbase_payload bytea,
	coinbase_alt_recipient text,
	coinbase_vrf_proof bytea,
	tenure_change_tenure_consensus_hash bytea,
	tenure_change_prev_tenure_consensus_hash bytea,
	tenure_change_burn_view_consensus_hash bytea,
	tenure_change_previous_tenure_end bytea,
	tenure_change_previous_tenure_blocks integer,
	tenure_change_cause smallint,
	block_time integer NOT NULL DEFAULT 0,
	burn_block_height integer NOT NULL,
	vm_error text,
	UNIQUE (tx_id, index_block_hash, microblock_hash),
	CONSTRAINT valid_token_transfer CHECK (type_id != 0 OR NOT (token_transfer_recipient_address, token_transfer_amount, token_transfer_memo) IS NULL),
	CONSTRAINT valid_smart_contract CHECK (type_id != 1 OR NOT (smart_contract_contract_id, smart_contract_source_code) IS NULL),
	CONSTRAINT valid_contract_call CHECK (type_id != 2 OR NOT (contract_call_contract_id, contract_call_function_name, contract_call_function_args) IS NULL),
	CONSTRAINT valid_poison_microblock CHECK (type_id != 3 OR NOT (poison_microblock_header_1, poison_microblock_header_2) IS NULL),
	CONSTRAINT valid_coinbase CHECK (type_id != 4 OR NOT (coinbase_payload) IS NULL),
	CONSTRAINT valid_coinbase_to_alt_recipient CHECK (type_id != 5 OR NOT (coinbase_payload, coinbase_alt_recipient) IS NULL),
	CONSTRAINT valid_versioned_smart_contract CHECK (type_id != 6 OR NOT (smart_contract_clarity_version, smart_contract_contract_id, smart_contract_source_code) IS NULL),
	CONSTRAINT valid_tenure_change CHECK (type_id != 7 OR NOT (tenure_change_tenure_consensus_hash, tenure_change_prev_tenure_consensus_hash, tenure_change_burn_view_consensus_hash, tenure_change_previous_tenure_end, tenure_change_previous_tenure_blocks, tenure_change_cause) IS NULL),
	CONSTRAINT valid_nakamoto_coinbase CHECK (type_id != 8 OR NOT (coinbase_payload, coinbase_vrf_proof) IS NULL)
);
CREATE TABLE %[1]s.blocks (
	index_block_hash bytea PRIMARY KEY,
	block_hash bytea NOT NULL,
	block_height integer NOT NULL,
	burn_block_time integer NOT NULL,
	burn_block_hash bytea NOT NULL,
	burn_block_height integer NOT NULL,
	miner_txid bytea NOT NULL,
	parent_index_block_hash bytea NOT NULL,
	parent_block_hash bytea NOT NULL,
	parent_microblock_hash bytea NOT NULL,
	parent_microblock_sequence integer NOT NULL,
	canonical boolean NOT NULL,
	execution_cost_read_count bigint NOT NULL,
	execution_cost_read_length bigint NOT NULL,
	execution_cost_runtime bigint NOT NULL,
	execution_cost_write_count bigint NOT NULL,
	execution_cost_write_length bigint NOT NULL,
	tx_count integer NOT NULL DEFAULT 1,
	block_time integer NOT NULL DEFAULT 0,
	signer_bitvec bit varying,
	tenure_height integer,
	signer_signatures bytea[],
	tx_total_size integer
);
CREATE TABLE %[1]s.chain_tip (
	id boolean PRIMARY KEY DEFAULT true CHECK (id),
	block_height integer NOT NULL,
	block_count integer NOT NULL,
	block_hash bytea NOT NULL,
	index_block_hash bytea NOT NULL,
	burn_block_height integer NOT NULL,
	microblock_hash bytea,
	microblock_sequence integer,
	microblock_count integer NOT NULL,
	tx_count integer NOT NULL,
	tx_count_unanchored integer NOT NULL,
	mempool_tx_count integer NOT NULL DEFAULT 0,
	mempool_updated_at timestamptz DEFAULT now(),
	bond_count integer NOT NULL DEFAULT 0,
	stx_supply numeric
);
`

const createIndexes = `
CREATE INDEX txs_block_height_microblock_sequence_tx_index_index ON %[1]s.txs (block_height DESC, microblock_sequence DESC, tx_index DESC);
CREATE INDEX txs_burn_block_time_index ON %[1]s.txs (burn_block_time);
CREATE INDEX txs_index_block_hash_canonical_index ON %[1]s.txs (index_block_hash, canonical);
CREATE INDEX txs_sender_address_nonce_index ON %[1]s.txs (sender_address, nonce) WHERE canonical AND microblock_canonical;
CREATE INDEX txs_type_id_index ON %[1]s.txs (type_id);
CREATE INDEX blocks_block_height_index ON %[1]s.blocks (block_height DESC);
CREATE INDEX blocks_burn_block_height_index ON %[1]s.blocks (burn_block_height DESC);
CREATE INDEX blocks_canonical_block_time_desc_idx ON %[1]s.blocks (block_time DESC) WHERE canonical;
ANALYZE %[1]s.txs;
ANALYZE %[1]s.blocks;
`

// Migrations is the pgmigrations content of an API v9 database: the
// squashed per-table files and the later timestamped ones.
var Migrations = []string{
	"1600000000000_blocks",
	"1600000000001_txs",
	"1600000000002_chain-tip",
	"1774000000000_block-time-index",
	"1778599015338_principal-tx-balance-changes",
}

// OldMigrations is the pgmigrations content of an API before v7.11, which
// the seed refuses.
var OldMigrations = []string{
	"1584619633448_txs",
	"1643755236533_chain_tip",
	"1710443563029_stacks_block_time",
}
