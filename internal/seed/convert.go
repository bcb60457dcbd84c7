package seed

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// ErrBadRow marks a txs row that cannot be turned into the row the API would
// have served: an unknown type or status code, a negative amount, a missing
// amount on a token transfer. Such a row stops the read; storing a guess would
// make the year disagree with the API.
var ErrBadRow = errors.New("txs row cannot be converted")

// RowError says which row and column failed to convert. It wraps ErrBadRow.
type RowError struct {
	TxID   string // 0x-hex, or "" when the tx_id itself is unreadable
	Column string
	Reason string
}

// Error names the row (by tx_id when readable), the column and the reason.
func (e *RowError) Error() string {
	if e.TxID == "" {
		return fmt.Sprintf("txs row: column %s: %s", e.Column, e.Reason)
	}
	return fmt.Sprintf("txs row %s: column %s: %s", e.TxID, e.Column, e.Reason)
}

// Unwrap lets errors.Is(err, ErrBadRow) match.
func (e *RowError) Unwrap() error { return ErrBadRow }

// Row holds the txs columns the product keeps, with the PostgreSQL types
// widened to int64 and bytea kept as raw bytes. A nullable column has a Null
// flag beside it; the readers fill Row and hand it to Tx, so the conversion
// rules live only there.
type Row struct {
	TxID            []byte // bytea, 32 bytes
	TxIndex         int64  // smallint
	BlockHash       []byte // bytea, empty for an unanchored microblock tx
	BlockHeight     int64  // integer
	BlockTime       int64  // integer, 0 before Nakamoto
	BurnBlockHeight int64  // integer
	BurnBlockTime   int64  // integer, unix seconds
	TypeID          int64  // smallint, see TxType
	Status          int64  // smallint, see TxStatus
	Nonce           int64  // integer
	FeeRate         int64  // bigint µSTX
	Sponsored       bool
	SponsorAddress  string
	SponsorNull     bool // sponsor_address IS NULL
	SenderAddress   string

	Canonical           bool
	MicroblockCanonical bool

	TokenTransferRecipientAddress string // NULL reads as ""
	TokenTransferAmount           int64  // bigint µSTX
	TokenTransferAmountNull       bool
	TokenTransferMemo             []byte // nil when NULL
	ContractCallContractID        string // NULL reads as ""
	ContractCallFunctionName      string // NULL reads as ""
	SmartContractContractID       string // NULL reads as ""
}

// typeNames maps txs.type_id to the API's tx_type. Several codes share a
// name: the API tells the variants apart by other fields (a versioned smart
// contract has clarity_version set, a Nakamoto coinbase a vrf_proof), and the
// product keeps only the name.
var typeNames = map[int64]string{
	0: "token_transfer",
	1: "smart_contract", // clarity_version null
	2: "contract_call",
	3: "poison_microblock",
	4: "coinbase",
	5: "coinbase",       // to an alternative recipient
	6: "smart_contract", // versioned: clarity_version set
	7: "tenure_change",
	8: "coinbase", // Nakamoto coinbase with a VRF proof
}

// statusNames maps txs.status to the API's tx_status for statuses a mined
// transaction can have.
var statusNames = map[int64]string{
	1:  "success",
	-1: "abort_by_response",
	-2: "abort_by_post_condition",
	-3: "problematic_skipped", // epoch 4.0; written only by API v9.0.2 and later
}

// mempoolStatuses are codes the API uses only in mempool_txs. Meeting one in
// txs means the database is not what this package understands, so it is an
// error rather than a row stored as "pending".
var mempoolStatuses = map[int64]string{
	0:   "pending",
	-10: "dropped_replace_by_fee",
	-11: "dropped_replace_across_fork",
	-12: "dropped_too_expensive",
	-13: "dropped_stale_garbage_collect",
	-14: "dropped_stale_garbage_collect",
	-15: "dropped_problematic",
}

// TxType returns the API tx_type of a txs.type_id code.
func TxType(code int64) (string, bool) {
	name, ok := typeNames[code]
	return name, ok
}

// TxStatus returns the API tx_status of a txs.status code; mempool-only codes
// are not valid here and give false.
func TxStatus(code int64) (string, bool) {
	name, ok := statusNames[code]
	return name, ok
}

// Final reports whether the row is one the API lists for a chain whose tip is
// at tipHeight: canonical, in a canonical microblock (or none) and not above
// the tip. The readers apply it in SQL or while streaming; it is here so the
// filter is written down once.
func (r *Row) Final(tipHeight int64) bool {
	return r.Canonical && r.MicroblockCanonical && r.BlockHeight <= tipHeight
}

// Tx converts the row exactly as GET /extended/v1/tx would have rendered it
// and internal/hiro decodes it: bytea as "0x" + lowercase hex ("0x" when
// empty), codes as the API's names, block_time 0 replaced by burn_block_time,
// amounts as exact µSTX, sponsor_address "" when NULL, and the type-specific
// columns kept only for their own tx_type. The caller has already applied
// Final; Canonical is set to true.
func (r *Row) Tx() (chain.Tx, error) {
	txID := hex0x(r.TxID)
	bad := func(col, format string, args ...any) error {
		return &RowError{TxID: txID, Column: col, Reason: fmt.Sprintf(format, args...)}
	}
	if len(r.TxID) == 0 {
		return chain.Tx{}, &RowError{Column: "tx_id", Reason: "empty"}
	}
	typ, ok := typeNames[r.TypeID]
	if !ok {
		return chain.Tx{}, bad("type_id", "unknown type code %d (known: 0–8)", r.TypeID)
	}
	status, ok := statusNames[r.Status]
	if !ok {
		if name, mempool := mempoolStatuses[r.Status]; mempool {
			return chain.Tx{}, bad("status", "status code %d (%s) belongs to the mempool, not to a mined transaction", r.Status, name)
		}
		return chain.Tx{}, bad("status", "unknown status code %d (known: 1, -1, -2, -3)", r.Status)
	}
	if r.FeeRate < 0 {
		return chain.Tx{}, bad("fee_rate", "negative fee %d µSTX", r.FeeRate)
	}
	blockTime := r.BlockTime
	if blockTime == 0 { // pre-Nakamoto blocks: the API falls back to the burn time
		blockTime = r.BurnBlockTime
	}
	tx := chain.Tx{
		TxID:            txID,
		TxType:          typ,
		TxStatus:        status,
		BlockHeight:     r.BlockHeight,
		BlockHash:       hex0x(r.BlockHash),
		BlockTime:       time.Unix(blockTime, 0).UTC(),
		BurnBlockHeight: r.BurnBlockHeight,
		BurnBlockTime:   time.Unix(r.BurnBlockTime, 0).UTC(),
		TxIndex:         r.TxIndex,
		SenderAddress:   r.SenderAddress,
		Nonce:           r.Nonce,
		FeeRate:         uint64(r.FeeRate),
		Sponsored:       r.Sponsored,
		Canonical:       true,
	}
	if !r.SponsorNull { // the API omits a NULL sponsor_address from the JSON
		tx.SponsorAddress = r.SponsorAddress
	}
	switch typ {
	case "token_transfer":
		if r.TokenTransferAmountNull {
			return chain.Tx{}, bad("token_transfer_amount", "NULL on a token transfer")
		}
		if r.TokenTransferAmount < 0 {
			return chain.Tx{}, bad("token_transfer_amount", "negative amount %d µSTX", r.TokenTransferAmount)
		}
		tx.TokenTransferRecipientAddress = r.TokenTransferRecipientAddress
		tx.TokenTransferAmount = uint64(r.TokenTransferAmount)
		if r.TokenTransferMemo != nil { // a NULL memo is JSON null, which decodes as ""
			tx.TokenTransferMemo = hex0x(r.TokenTransferMemo)
		}
	case "contract_call":
		tx.ContractCallContractID = r.ContractCallContractID
		tx.ContractCallFunctionName = r.ContractCallFunctionName
	case "smart_contract":
		tx.SmartContractContractID = r.SmartContractContractID
	}
	return tx, nil
}

// hex0x renders bytea the way the API does: "0x" and lowercase hex.
func hex0x(b []byte) string {
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	hex.Encode(out[2:], b)
	return string(out)
}

// columns reads the columns of one txs row in some format (COPY text,
// the binary protocol); fill is the one place that says which column goes
// to which field of Row.
type columns struct {
	bytea   func(c int) []byte
	integer func(c int) (v int64, null bool)
	text    func(c int) (v string, null bool)
	boolean func(c int) bool
}

// fill sets every field of r from the row's columns.
func (cs columns) fill(r *Row) {
	bytea, integer, text, boolean := cs.bytea, cs.integer, cs.text, cs.boolean
	r.TxID = bytea(cTxID)
	r.BlockHash = bytea(cBlockHash)
	r.TokenTransferMemo = bytea(cTTMemo)
	r.TxIndex, _ = integer(cTxIndex)
	r.BlockHeight, _ = integer(cBlockHeight)
	r.BlockTime, _ = integer(cBlockTime)
	r.BurnBlockHeight, _ = integer(cBurnBlockHeight)
	r.BurnBlockTime, _ = integer(cBurnBlockTime)
	r.TypeID, _ = integer(cTypeID)
	r.Status, _ = integer(cStatus)
	r.Nonce, _ = integer(cNonce)
	r.FeeRate, _ = integer(cFeeRate)
	r.Sponsored = boolean(cSponsored)
	r.SponsorAddress, r.SponsorNull = text(cSponsorAddress)
	r.SenderAddress, _ = text(cSenderAddress)
	r.Canonical = boolean(cCanonical)
	r.MicroblockCanonical = boolean(cMicroblockCanonical)
	r.TokenTransferRecipientAddress, _ = text(cTTRecipient)
	r.TokenTransferAmount, r.TokenTransferAmountNull = integer(cTTAmount)
	r.ContractCallContractID, _ = text(cCCContractID)
	r.ContractCallFunctionName, _ = text(cCCFunctionName)
	r.SmartContractContractID, _ = text(cSCContractID)
}
