package hiro

import (
	"errors"
	"fmt"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// ErrMalformed marks a response body that is not the JSON the API documents:
// truncated, cut off by a proxy, or missing fields. Such a body is retried,
// never ingested.
var ErrMalformed = errors.New("malformed response body")

// TxPage is one decoded page of GET /extended/v1/tx.
type TxPage struct {
	Limit  int
	Offset int64
	Total  int64
	Txs    []chain.Tx
	// Skipped counts results that were not canonical and so not kept.
	Skipped int
}

// v1Envelope is the paginated envelope of GET /extended/v1/tx. Its
// results decode in the same pass as the envelope: decoding each from a
// json.RawMessage scanned the page three times, which made decoding the
// largest cost of reading a cached page.
type v1Envelope struct {
	Limit   *int   `json:"limit"`
	Offset  *int64 `json:"offset"`
	Total   *int64 `json:"total"`
	Results []v1Tx `json:"results"`
}

// v1Tx holds the fields of a v1 Transaction object that the store keeps.
// Amounts are strings in the API because they can exceed 2^53.
type v1Tx struct {
	TxID            string  `json:"tx_id"`
	TxType          string  `json:"tx_type"`
	TxStatus        string  `json:"tx_status"`
	Nonce           *int64  `json:"nonce"`
	FeeRate         string  `json:"fee_rate"`
	SenderAddress   string  `json:"sender_address"`
	Sponsored       bool    `json:"sponsored"`
	SponsorAddress  *string `json:"sponsor_address"`
	BlockHash       string  `json:"block_hash"`
	BlockHeight     *int64  `json:"block_height"`
	BlockTime       int64   `json:"block_time"`
	BurnBlockHeight *int64  `json:"burn_block_height"`
	BurnBlockTime   *int64  `json:"burn_block_time"`
	TxIndex         *int64  `json:"tx_index"`
	Canonical       *bool   `json:"canonical"`
	MicroCanonical  *bool   `json:"microblock_canonical"`
	TokenTransfer   *struct {
		RecipientAddress string `json:"recipient_address"`
		Amount           string `json:"amount"`
		Memo             string `json:"memo"`
	} `json:"token_transfer"`
	ContractCall *struct {
		ContractID   string `json:"contract_id"`
		FunctionName string `json:"function_name"`
	} `json:"contract_call"`
	SmartContract *struct {
		ContractID string `json:"contract_id"`
	} `json:"smart_contract"`
}

// MaxTotal bounds the total a v1 page may claim. No window, nor the whole
// chain, holds a billion transactions; a window believing such a total
// would set out to list every page of it.
const MaxTotal = 1_000_000_000

// DecodeTxPage decodes and checks a GET /extended/v1/tx body. Any defect is
// reported as ErrMalformed so callers retry the request instead of storing a
// partial page.
func DecodeTxPage(body []byte) (TxPage, error) {
	var env v1Envelope
	if err := decodeJSON(body, &env); err != nil {
		return TxPage{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.Total == nil || env.Results == nil || env.Limit == nil || env.Offset == nil {
		return TxPage{}, fmt.Errorf("%w: envelope lacks limit, offset, total or results", ErrMalformed)
	}
	if *env.Total < 0 || *env.Total > MaxTotal || *env.Offset < 0 || *env.Limit < 0 || len(env.Results) > PageLimit {
		return TxPage{}, fmt.Errorf("%w: %w: envelope limit %d, offset %d, total %d with %d results: want non-negative numbers, a total of at most %d and at most %d results",
			ErrMalformed, ErrImpossibleValue, *env.Limit, *env.Offset, *env.Total, len(env.Results), MaxTotal, PageLimit)
	}
	page := TxPage{Limit: *env.Limit, Offset: *env.Offset, Total: *env.Total, Txs: make([]chain.Tx, 0, len(env.Results))}
	for i := range env.Results {
		tx, canonical, err := env.Results[i].convert()
		if err != nil {
			return TxPage{}, fmt.Errorf("result %d: %w", i, err)
		}
		if !canonical {
			page.Skipped++
			continue
		}
		page.Txs = append(page.Txs, tx)
	}
	return page, nil
}

// DecodeTx decodes one v1 Transaction object. canonical is false for rows
// that are not on the canonical chain (or in a non-canonical microblock).
func DecodeTx(raw []byte) (tx chain.Tx, canonical bool, err error) {
	var v v1Tx
	if err := decodeJSON(raw, &v); err != nil {
		return chain.Tx{}, false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return v.convert()
}

// convert checks a decoded v1 Transaction and makes the row of it.
func (v *v1Tx) convert() (tx chain.Tx, canonical bool, err error) {
	missing := func(field string) error {
		return fmt.Errorf("%w: transaction %q lacks %s", ErrMalformed, v.TxID, field)
	}
	switch {
	case v.TxID == "":
		return chain.Tx{}, false, missing("tx_id")
	case v.TxType == "":
		return chain.Tx{}, false, missing("tx_type")
	case v.TxStatus == "":
		return chain.Tx{}, false, missing("tx_status")
	case v.Nonce == nil:
		return chain.Tx{}, false, missing("nonce")
	case v.BlockHeight == nil:
		return chain.Tx{}, false, missing("block_height")
	case v.BurnBlockHeight == nil:
		return chain.Tx{}, false, missing("burn_block_height")
	case v.BurnBlockTime == nil:
		return chain.Tx{}, false, missing("burn_block_time")
	case v.TxIndex == nil:
		return chain.Tx{}, false, missing("tx_index")
	case v.Canonical == nil:
		return chain.Tx{}, false, missing("canonical")
	case v.SenderAddress == "":
		return chain.Tx{}, false, missing("sender_address")
	}
	fee, ok := parseMicroSTX(v.FeeRate)
	if !ok {
		return chain.Tx{}, false, &ValueError{TxID: shorten(v.TxID), Field: "fee_rate", Value: shorten(v.FeeRate), Want: "a µSTX amount, an unsigned 64-bit decimal string"}
	}
	blockTime := v.BlockTime
	if blockTime == 0 { // pre-Nakamoto blocks: the API falls back to the burn time
		blockTime = *v.BurnBlockTime
	}
	tx = chain.Tx{
		TxID:            v.TxID,
		TxType:          v.TxType,
		TxStatus:        v.TxStatus,
		BlockHeight:     *v.BlockHeight,
		BlockHash:       v.BlockHash,
		BlockTime:       time.Unix(blockTime, 0).UTC(),
		BurnBlockHeight: *v.BurnBlockHeight,
		BurnBlockTime:   time.Unix(*v.BurnBlockTime, 0).UTC(),
		TxIndex:         *v.TxIndex,
		SenderAddress:   v.SenderAddress,
		Nonce:           *v.Nonce,
		FeeRate:         fee,
		Sponsored:       v.Sponsored,
		Canonical:       *v.Canonical,
	}
	if v.SponsorAddress != nil {
		tx.SponsorAddress = *v.SponsorAddress
	}
	switch v.TxType {
	case "token_transfer":
		if v.TokenTransfer == nil {
			return chain.Tx{}, false, missing("token_transfer")
		}
		amount, ok := parseMicroSTX(v.TokenTransfer.Amount)
		if !ok {
			return chain.Tx{}, false, &ValueError{TxID: shorten(v.TxID), Field: "token_transfer.amount", Value: shorten(v.TokenTransfer.Amount), Want: "a µSTX amount, an unsigned 64-bit decimal string"}
		}
		tx.TokenTransferRecipientAddress = v.TokenTransfer.RecipientAddress
		tx.TokenTransferAmount = amount
		tx.TokenTransferMemo = v.TokenTransfer.Memo
	case "contract_call":
		if v.ContractCall == nil {
			return chain.Tx{}, false, missing("contract_call")
		}
		tx.ContractCallContractID = v.ContractCall.ContractID
		tx.ContractCallFunctionName = v.ContractCall.FunctionName
	case "smart_contract":
		if v.SmartContract == nil {
			return chain.Tx{}, false, missing("smart_contract")
		}
		tx.SmartContractContractID = v.SmartContract.ContractID
	}
	if err := checkTx(&tx, time.Now()); err != nil {
		return chain.Tx{}, false, err
	}
	canonical = *v.Canonical && (v.MicroCanonical == nil || *v.MicroCanonical)
	return tx, canonical, nil
}
