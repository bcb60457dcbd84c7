package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"iter"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Chain is what Load writes.
type Chain struct {
	// Schema receives the tables; "" means stacks_blockchain_api.
	Schema string
	// Txs are the canonical transactions, in (block_height, tx_index)
	// order, e.g. slices.Values(sim.All()) or a hirosim.Generate stream.
	// The highest block becomes the chain tip. Every row must be
	// Representable.
	Txs iter.Seq[chain.Tx]
	// TrapEvery > 0 adds, after every TrapEvery-th transaction, two rows
	// the seed must never return: the same tx_id in a non-canonical fork
	// block (canonical = false) and in an orphaned microblock
	// (microblock_canonical = false), both with a changed fee so a leak
	// shows. AboveTip adds that many canonical rows above the chain tip
	// (new tx_ids, inside the chain's time range).
	TrapEvery int
	AboveTip  int
	// Migrations fill pgmigrations; nil means Migrations (API v9).
	Migrations []string
}

// Loaded says what Load wrote.
type Loaded struct {
	Canonical int64 // rows the seed must return
	Traps     int64 // rows it must not
	TipHeight int64
}

// txsCols are the columns Load fills, in value order.
var txsCols = []string{
	"tx_id", "tx_index", "raw_result", "index_block_hash", "block_hash", "block_height",
	"parent_block_hash", "burn_block_time", "parent_burn_block_time", "type_id", "anchor_mode",
	"status", "canonical", "post_conditions", "nonce", "fee_rate", "sponsored", "sponsor_address",
	"sponsor_nonce", "sender_address", "origin_hash_mode", "event_count",
	"execution_cost_read_count", "execution_cost_read_length", "execution_cost_runtime",
	"execution_cost_write_count", "execution_cost_write_length", "raw_tx", "microblock_canonical",
	"microblock_sequence", "microblock_hash", "parent_index_block_hash",
	"token_transfer_recipient_address", "token_transfer_amount", "token_transfer_memo",
	"smart_contract_clarity_version", "smart_contract_contract_id", "smart_contract_source_code",
	"contract_call_contract_id", "contract_call_function_name", "contract_call_function_args",
	"poison_microblock_header_1", "poison_microblock_header_2", "coinbase_payload",
	"coinbase_alt_recipient", "coinbase_vrf_proof", "tenure_change_tenure_consensus_hash",
	"tenure_change_prev_tenure_consensus_hash", "tenure_change_burn_view_consensus_hash",
	"tenure_change_previous_tenure_end", "tenure_change_previous_tenure_blocks",
	"tenure_change_cause", "block_time", "burn_block_height", "vm_error",
}

var txsColIndex = func() map[string]int {
	m := make(map[string]int, len(txsCols))
	for i, c := range txsCols {
		m[c] = i
	}
	return m
}()

var blocksCols = []string{
	"index_block_hash", "block_hash", "block_height", "burn_block_time", "burn_block_hash",
	"burn_block_height", "miner_txid", "parent_index_block_hash", "parent_block_hash",
	"parent_microblock_hash", "parent_microblock_sequence", "canonical",
	"execution_cost_read_count", "execution_cost_read_length", "execution_cost_runtime",
	"execution_cost_write_count", "execution_cost_write_length", "tx_count", "block_time",
}

// TypeCodes maps a tx_type to the type_id codes Load writes for it; where
// several codes share a name Load alternates between them, so every code
// is exercised.
var TypeCodes = map[string][]int16{
	"token_transfer":    {0},
	"smart_contract":    {1, 6},
	"contract_call":     {2},
	"poison_microblock": {3},
	"coinbase":          {4, 5, 8},
	"tenure_change":     {7},
}

// StatusCodes maps a tx_status to its txs.status code.
var StatusCodes = map[string]int16{
	"success": 1, "abort_by_response": -1, "abort_by_post_condition": -2, "problematic_skipped": -3,
}

// Representable reports whether the API's database can hold tx: fee_rate and
// token_transfer_amount are bigint there, so µSTX amounts above 2^63-1 (which
// the simulator makes to test JSON decoding, and which no real chain has)
// cannot be written. Filter a truth with it before Load.
func Representable(tx chain.Tx) bool {
	return tx.FeeRate <= math.MaxInt64 && tx.TokenTransferAmount <= math.MaxInt64
}

// microblockNone is microblock_sequence for anchored and Nakamoto txs.
const microblockNone = math.MaxInt32

type blockRow struct {
	height, burnTime, burnHeight, blockTime int64
	hash, index                             []byte
	canonical                               bool
	txs                                     int64
}

// Load creates the API tables in the database and writes the chain with
// COPY. A block_time equal to burn_block_time is written as 0, as the API
// stores pre-Nakamoto blocks, so the reader's fallback is exercised.
func (s *Server) Load(tb testing.TB, db string, c Chain) Loaded {
	tb.Helper()
	ctx := context.Background()
	schema := c.Schema
	if schema == "" {
		schema = "stacks_blockchain_api"
	}
	q := pgx.Identifier{schema}.Sanitize()
	conn, err := pgx.Connect(ctx, s.URL(db, s.Password))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	exec := func(sql string, args ...any) {
		tb.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			tb.Fatalf("pgtest: load: %v", err)
		}
	}
	exec(fmt.Sprintf(createTables, q))
	migrations := c.Migrations
	if migrations == nil {
		migrations = Migrations
	}
	for _, m := range migrations {
		exec("INSERT INTO "+q+".pgmigrations (name, run_on) VALUES ($1, now())", m)
	}

	var out Loaded
	var blocks, forks []blockRow
	var last chain.Tx
	var minBurn, maxBurn int64 = math.MaxInt64, math.MinInt64
	n := 0
	next, stop := iter.Pull(c.Txs)
	defer stop()
	var pending [][]any // trap rows waiting to be sent
	aboveLeft := c.AboveTip
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if len(pending) > 0 {
			row := pending[0]
			pending = pending[1:]
			return row, nil
		}
		tx, ok := next()
		if !ok {
			if aboveLeft == 0 || n == 0 {
				return nil, nil
			}
			aboveLeft--
			out.Traps++
			t := last
			t.TxID = fakeHash("above", uint64(aboveLeft))
			t.BlockHeight = last.BlockHeight + 1 + int64(aboveLeft)
			t.BlockHash = fakeHash("above-block", uint64(t.BlockHeight))
			t.BurnBlockTime = time.Unix((minBurn+maxBurn)/2, 0).UTC()
			return txRow(t, 0, true, true, n)
		}
		n++
		out.Canonical++
		if len(blocks) == 0 || blocks[len(blocks)-1].height != tx.BlockHeight {
			hash := mustHex(tx.BlockHash)
			blocks = append(blocks, blockRow{height: tx.BlockHeight, burnTime: tx.BurnBlockTime.Unix(),
				burnHeight: tx.BurnBlockHeight, blockTime: tx.BlockTime.Unix(), hash: hash, index: indexHash(hash), canonical: true})
		}
		blocks[len(blocks)-1].txs++
		last = tx
		minBurn, maxBurn = min(minBurn, tx.BurnBlockTime.Unix()), max(maxBurn, tx.BurnBlockTime.Unix())
		if c.TrapEvery > 0 && n%c.TrapEvery == 0 {
			fork := tx
			fork.FeeRate++
			fork.BlockHash = fakeHash("fork", uint64(n))
			hash := mustHex(fork.BlockHash)
			forks = append(forks, blockRow{height: tx.BlockHeight, burnTime: tx.BurnBlockTime.Unix(),
				burnHeight: tx.BurnBlockHeight, blockTime: tx.BlockTime.Unix(), hash: hash, index: indexHash(hash), txs: 1})
			r1, err := txRow(fork, 0, false, true, n)
			if err != nil {
				return nil, err
			}
			orphan := tx
			orphan.FeeRate += 2
			r2, err := txRow(orphan, 1, true, false, n)
			if err != nil {
				return nil, err
			}
			pending = append(pending, r1, r2)
			out.Traps += 2
		}
		return txRow(tx, 0, true, true, n)
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, "txs"}, txsCols, src); err != nil {
		tb.Fatalf("pgtest: copy txs: %v", err)
	}
	if n == 0 {
		tb.Fatal("pgtest: Load needs at least one transaction")
	}
	tip := blocks[len(blocks)-1]
	all := append(blocks, forks...)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{schema, "blocks"}, blocksCols, pgx.CopyFromSlice(len(all), func(i int) ([]any, error) {
		b := all[i]
		h := b.hash
		return []any{b.index, h, int32(b.height), int32(b.burnTime), fakeBytes("burn", uint64(b.burnHeight)), int32(b.burnHeight),
			fakeBytes("miner", uint64(b.burnHeight)), fakeBytes("parent-index", uint64(b.height)), fakeBytes("parent", uint64(b.height)),
			[]byte{}, int32(0), b.canonical, int64(1), int64(2), int64(3), int64(4), int64(5), int32(b.txs), int32(b.blockTime)}, nil
	}))
	if err != nil {
		tb.Fatalf("pgtest: copy blocks: %v", err)
	}
	out.TipHeight = tip.height
	exec("INSERT INTO "+q+".chain_tip (block_height, block_count, block_hash, index_block_hash, burn_block_height, microblock_count, tx_count, tx_count_unanchored) VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
		int32(tip.height), int32(len(blocks)), tip.hash, tip.index, int32(tip.burnHeight), int32(out.Canonical))
	exec(fmt.Sprintf(createIndexes, q))
	return out
}

// txRow renders one chain.Tx as a txs row. serial varies the type code
// among those sharing a name and the filler columns.
func txRow(t chain.Tx, microSeq int64, canonical, microCanonical bool, serial int) ([]any, error) {
	codes, ok := TypeCodes[t.TxType]
	if !ok {
		return nil, fmt.Errorf("pgtest: tx %s: unknown tx_type %q", t.TxID, t.TxType)
	}
	typeID := codes[serial%len(codes)]
	status, ok := StatusCodes[t.TxStatus]
	if !ok {
		return nil, fmt.Errorf("pgtest: tx %s: unknown tx_status %q", t.TxID, t.TxStatus)
	}
	if t.FeeRate > math.MaxInt64 || t.TokenTransferAmount > math.MaxInt64 {
		return nil, fmt.Errorf("pgtest: tx %s: amount beyond bigint", t.TxID)
	}
	blockHash := mustHex(t.BlockHash)
	index := indexHash(blockHash)
	microHash := []byte{}
	if !microCanonical || microSeq > 0 {
		microHash = fakeBytes("micro", uint64(serial))
	} else {
		microSeq = microblockNone
	}
	blockTime := t.BlockTime.Unix()
	if blockTime == t.BurnBlockTime.Unix() {
		blockTime = 0
	}
	var sponsor any
	var sponsorNonce any
	if t.SponsorAddress != "" {
		sponsor, sponsorNonce = t.SponsorAddress, int32(serial%1000)
	}
	row := make([]any, len(txsCols))
	set := func(col string, v any) {
		i, ok := txsColIndex[col]
		if !ok {
			panic("pgtest: no column " + col)
		}
		row[i] = v
	}
	set("tx_id", mustHex(t.TxID))
	set("tx_index", int16(t.TxIndex))
	set("raw_result", []byte{0x07, 0x03})
	set("index_block_hash", index)
	set("block_hash", blockHash)
	set("block_height", int32(t.BlockHeight))
	set("parent_block_hash", fakeBytes("parent", uint64(t.BlockHeight)))
	set("burn_block_time", int32(t.BurnBlockTime.Unix()))
	set("parent_burn_block_time", int32(t.BurnBlockTime.Unix()))
	set("type_id", typeID)
	set("anchor_mode", int16(3))
	set("status", status)
	set("canonical", canonical)
	set("post_conditions", []byte{0x01, 0, 0, 0, 0})
	set("nonce", int32(t.Nonce))
	set("fee_rate", int64(t.FeeRate))
	set("sponsored", t.Sponsored)
	set("sponsor_address", sponsor)
	set("sponsor_nonce", sponsorNonce)
	set("sender_address", t.SenderAddress)
	set("origin_hash_mode", int16(0))
	set("event_count", int32(serial%5))
	for _, c := range []string{"read_count", "read_length", "runtime", "write_count", "write_length"} {
		set("execution_cost_"+c, int64(serial%1000))
	}
	set("raw_tx", fakeBytes("raw", uint64(serial)))
	set("microblock_canonical", microCanonical)
	set("microblock_sequence", int32(microSeq))
	set("microblock_hash", microHash)
	set("parent_index_block_hash", fakeBytes("parent-index", uint64(t.BlockHeight)))
	set("block_time", int32(blockTime))
	set("burn_block_height", int32(t.BurnBlockHeight))
	switch typeID {
	case 0:
		set("token_transfer_recipient_address", t.TokenTransferRecipientAddress)
		set("token_transfer_amount", int64(t.TokenTransferAmount))
		set("token_transfer_memo", mustHex(t.TokenTransferMemo))
	case 1, 6:
		set("smart_contract_contract_id", t.SmartContractContractID)
		set("smart_contract_source_code", "(define-public (f) (ok true))\n\t;; tab and \\ backslash")
		if typeID == 6 {
			set("smart_contract_clarity_version", int16(2))
		}
	case 2:
		set("contract_call_contract_id", t.ContractCallContractID)
		set("contract_call_function_name", t.ContractCallFunctionName)
		set("contract_call_function_args", []byte{0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7})
	case 3:
		set("poison_microblock_header_1", fakeBytes("h1", uint64(serial)))
		set("poison_microblock_header_2", fakeBytes("h2", uint64(serial)))
	case 4, 5, 8:
		set("coinbase_payload", fakeBytes("coinbase", uint64(serial)))
		if typeID == 5 {
			set("coinbase_alt_recipient", t.SenderAddress)
		}
		if typeID == 8 {
			set("coinbase_vrf_proof", append(fakeBytes("vrf", uint64(serial)), fakeBytes("vrf2", uint64(serial))...))
		}
	case 7:
		set("tenure_change_tenure_consensus_hash", fakeBytes("tc", uint64(t.BurnBlockHeight))[:20])
		set("tenure_change_prev_tenure_consensus_hash", fakeBytes("tc", uint64(t.BurnBlockHeight-1))[:20])
		set("tenure_change_burn_view_consensus_hash", fakeBytes("tc", uint64(t.BurnBlockHeight))[:20])
		set("tenure_change_previous_tenure_end", fakeBytes("parent-index", uint64(t.BlockHeight)))
		set("tenure_change_previous_tenure_blocks", int32(serial%100))
		set("tenure_change_cause", int16(0))
	}
	if t.TxStatus == "abort_by_response" {
		set("vm_error", "Runtime(UnwrapFailure)")
	}
	return row, nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		panic(fmt.Sprintf("pgtest: %q is not 0x-hex: %v", s, err))
	}
	return b
}

// indexHash derives index_block_hash from block_hash (the real one also
// covers the consensus hash; any stable distinct value will do here).
func indexHash(blockHash []byte) []byte {
	h := sha256.Sum256(append([]byte("index"), blockHash...))
	return h[:]
}

func fakeBytes(kind string, n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	h := sha256.Sum256(append([]byte(kind), b[:]...))
	return h[:]
}

func fakeHash(kind string, n uint64) string { return "0x" + hex.EncodeToString(fakeBytes(kind, n)) }
