// Package chain holds the normalised Stacks transaction row that every other
// package speaks: the Hiro client decodes into it, the simulator publishes its
// ground truth as it, and the store writes it to the `transactions` table.
package chain

import "time"

// Tx is one canonical Stacks transaction, reduced to the columns of the
// `transactions` table (docs/design.md#database). Column names follow the
// Hiro API.
//
// Amounts are exact unsigned integers of micro-STX: the API sends them as
// decimal strings because they can exceed 2^53, and a float would round them.
type Tx struct {
	TxID            string
	TxType          string
	TxStatus        string
	BlockHeight     int64
	BlockHash       string
	BlockTime       time.Time // UTC, whole seconds
	BurnBlockHeight int64
	BurnBlockTime   time.Time // UTC, whole seconds; the field v1 time filters use
	TxIndex         int64
	SenderAddress   string
	Nonce           int64
	FeeRate         uint64 // µSTX
	Sponsored       bool
	SponsorAddress  string // "" when not sponsored

	TokenTransferRecipientAddress string // token_transfer only
	TokenTransferAmount           uint64 // µSTX, token_transfer only
	TokenTransferMemo             string // hex, token_transfer only
	ContractCallContractID        string // contract_call only
	ContractCallFunctionName      string // contract_call only
	SmartContractContractID       string // smart_contract only

	Canonical bool
}
