package hiro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// V3TransactionsPath is the keyset-paged transaction list of API v9+.
const V3TransactionsPath = "/extended/v3/transactions"

// Errors of the v3 routes a caller acts on.
var (
	// ErrV3Unavailable means the server has no v3 routes (a node older than
	// API v9, or a proxy that does not forward them): its 404 is the
	// framework's "Route … not found", not a data answer.
	ErrV3Unavailable = errors.New("the server does not serve /extended/v3 (a node older than API v9?)")
	// ErrCursorNotFound is a v3 404 "Cursor not found", which servers older
	// than the API's current routes sent when no transaction sat at or below
	// the cursor or its row had left the canonical chain. The real API now
	// answers 200 instead (see V3Page.Current).
	ErrCursorNotFound = errors.New("cursor not found")
	// ErrBlockNotFound is the 404 of /extended/v2/blocks/by-block-time when
	// no block is that old.
	ErrBlockNotFound = errors.New("block not found")
)

// V3Page is one decoded page of GET /extended/v3/transactions, newest first.
type V3Page struct {
	Limit int
	Total int64 // every canonical transaction of the chain (the tip's counter)
	// Current is the keyset position of the first result, the cursor the
	// server resolved the request to ("" on an empty page). The real API
	// resolves a cursor whose row left the canonical chain to the next row
	// below it, silently, with 200: Current differing from the cursor sent
	// is the only sign. Next is the first result of the next (older) page,
	// "" at the bottom of the chain; Previous the newer page's, "" at the tip.
	Current, Next, Previous string
	Txs                     []chain.Tx
}

// V3Query is the query of one page: the newest transactions when cursor is
// "", else those at or below cursor (height:microblock_sequence:tx_index).
func V3Query(cursor string, limit int) url.Values {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(limit))
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return q
}

// V3Transactions fetches one page of PageLimit transactions at or below
// cursor ("" for the newest) and returns it with the exact body (for the
// raw cache). Below the chain's first transaction the page is empty. A
// 404 is ErrCursorNotFound when the body says so (older servers), else
// ErrV3Unavailable. Compare the page's Current with cursor to notice that
// the row under cursor left the chain.
func (c *Client) V3Transactions(ctx context.Context, cursor string) (V3Page, []byte, error) {
	var page V3Page
	body, err := c.Get(ctx, V3TransactionsPath, V3Query(cursor, PageLimit), func(b []byte) error {
		p, err := DecodeV3Page(b, PageLimit)
		if err != nil {
			return err
		}
		page = p
		return nil
	})
	if err != nil {
		return V3Page{}, nil, fmt.Errorf("v3 transactions at cursor %q: %w", cursor, classify404(err, "cursor"))
	}
	return page, body, nil
}

// ProbeV3 asks for the newest transaction once: true when the server serves
// v3, false when it answers that the route does not exist (or is gone).
// Other failures (network, 5xx after retries) are returned as errors.
func (c *Client) ProbeV3(ctx context.Context) (bool, error) {
	_, err := c.Get(ctx, V3TransactionsPath, V3Query("", 1), func(b []byte) error {
		_, err := DecodeV3Page(b, 1)
		return err
	})
	switch err = classify404(err, "cursor"); {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrV3Unavailable), errors.Is(err, ErrGone):
		return false, nil
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
		// 400/403/405…: whatever the reason, this server will not page v3.
		return false, nil
	}
	return false, err // the caller names the probe
}

// classify404 turns a 404 StatusError into ErrCursorNotFound or
// ErrBlockNotFound when the body names the missing data (word is "cursor"
// or "block"), else into ErrV3Unavailable: a missing route, an HTML page
// from a proxy, anything that is not the API's own data answer.
func classify404(err error, word string) error {
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 {
		return err
	}
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	_ = decodeJSON([]byte(se.Body), &body)
	text := strings.ToLower(body.Error + " " + body.Message)
	if strings.Contains(text, word) && strings.Contains(text, "not found") && !strings.Contains(text, "route") {
		if word == "block" {
			return fmt.Errorf("%w: %v", ErrBlockNotFound, err)
		}
		return fmt.Errorf("%w: %v", ErrCursorNotFound, err)
	}
	return fmt.Errorf("%w: %v", ErrV3Unavailable, err)
}

// v3Envelope is the cursor-paged envelope of the v3 transaction list; its
// results decode in the same pass (see v1Envelope).
type v3Envelope struct {
	Total  *int64 `json:"total"`
	Limit  *int   `json:"limit"`
	Cursor *struct {
		Next     *string `json:"next"`
		Previous *string `json:"previous"`
		Current  *string `json:"current"`
	} `json:"cursor"`
	Results []v3Summary `json:"results"`
}

// v3Principal is a sender or sponsor of a transaction summary.
type v3Principal struct {
	Address string `json:"address"`
	Nonce   *int64 `json:"nonce"`
}

// v3Summary holds the fields of a v3 TransactionSummary the store keeps.
type v3Summary struct {
	TxID    string       `json:"tx_id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	FeeRate string       `json:"fee_rate"`
	Sender  *v3Principal `json:"sender"`
	Sponsor *v3Principal `json:"sponsor"`
	Block   *struct {
		Height  *int64 `json:"height"`
		Hash    string `json:"hash"`
		Time    int64  `json:"time"`
		TxIndex *int64 `json:"tx_index"`
	} `json:"block"`
	BitcoinBlock *struct {
		Height *int64 `json:"height"`
		Time   *int64 `json:"time"`
	} `json:"bitcoin_block"`
	TokenTransfer *struct {
		Recipient        string          `json:"recipient"`
		RecipientAddress string          `json:"recipient_address"`
		Amount           string          `json:"amount"`
		Memo             json.RawMessage `json:"memo"`
	} `json:"token_transfer"`
	ContractCall *struct {
		ContractID   string `json:"contract_id"`
		FunctionName string `json:"function_name"`
	} `json:"contract_call"`
	SmartContract *struct {
		ContractID string `json:"contract_id"`
	} `json:"smart_contract"`
}

// DecodeV3Page decodes and checks a GET /extended/v3/transactions body
// asked for limit rows. Any defect (truncation, missing fields, another
// limit than the one asked, rows out of keyset order, a page with rows but
// no current cursor, a next cursor that does not go below the page) is
// ErrMalformed, so the request is retried instead of a partial page being
// stored.
func DecodeV3Page(body []byte, limit int) (V3Page, error) {
	var env v3Envelope
	if err := decodeJSON(body, &env); err != nil {
		return V3Page{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.Total == nil || env.Limit == nil || env.Cursor == nil || env.Results == nil {
		return V3Page{}, fmt.Errorf("%w: envelope lacks total, limit, cursor or results", ErrMalformed)
	}
	if *env.Total < 0 || *env.Limit != limit || len(env.Results) > limit {
		return V3Page{}, fmt.Errorf("%w: %w: envelope limit %d, total %d with %d results: want the limit asked (%d), a non-negative total and at most that many results",
			ErrMalformed, ErrImpossibleValue, *env.Limit, *env.Total, len(env.Results), limit)
	}
	p := V3Page{Limit: *env.Limit, Total: *env.Total, Txs: make([]chain.Tx, 0, len(env.Results))}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	p.Current, p.Next, p.Previous = deref(env.Cursor.Current), deref(env.Cursor.Next), deref(env.Cursor.Previous)
	for i := range env.Results {
		tx, err := env.Results[i].convert()
		if err != nil {
			return V3Page{}, fmt.Errorf("result %d: %w", i, err)
		}
		if n := len(p.Txs); n > 0 && tx.BlockHeight > p.Txs[n-1].BlockHeight {
			return V3Page{}, fmt.Errorf("%w: result %d (height %d) is newer than the one before it (height %d)", ErrMalformed, i, tx.BlockHeight, p.Txs[n-1].BlockHeight)
		}
		p.Txs = append(p.Txs, tx)
	}
	if len(p.Txs) > 0 && p.Current == "" {
		// The walk compares Current with the cursor it sent to notice a
		// page that starts below a row that left the chain: without it,
		// that shift would go unseen.
		return V3Page{}, fmt.Errorf("%w: %d results without a current cursor", ErrMalformed, len(p.Txs))
	}
	if p.Current != "" {
		// Current names the first result; a server that says otherwise
		// cannot be trusted to have resolved the cursor either.
		h, _, i, err := ParseCursor(p.Current)
		if err != nil {
			return V3Page{}, fmt.Errorf("%w: current cursor: %v", ErrMalformed, err)
		}
		if len(p.Txs) > 0 && (h != p.Txs[0].BlockHeight || i != p.Txs[0].TxIndex) {
			return V3Page{}, fmt.Errorf("%w: current cursor %s does not name the first result (height %d, tx_index %d)",
				ErrMalformed, p.Current, p.Txs[0].BlockHeight, p.Txs[0].TxIndex)
		}
	}
	if p.Next != "" {
		h, m, i, err := ParseCursor(p.Next)
		if err != nil {
			return V3Page{}, fmt.Errorf("%w: next cursor: %v", ErrMalformed, err)
		}
		if n := len(p.Txs); n == 0 || !belowRow(h, m, i, p.Txs[n-1]) {
			// A next cursor at or above the page's last row serves rows
			// again: a walk that follows it may never move down.
			return V3Page{}, fmt.Errorf("%w: next cursor %s does not go below the page", ErrMalformed, p.Next)
		}
		if len(p.Txs) < limit {
			// The API sets next only when it found a (limit+1)-th row.
			return V3Page{}, fmt.Errorf("%w: %d results of %d with a next cursor", ErrMalformed, len(p.Txs), p.Limit)
		}
	}
	return p, nil
}

// anchoredSequence is the microblock_sequence of a block's own (anchored
// or Nakamoto) transactions in a cursor: the largest, so that they sort
// above the microblock transactions the block confirms.
const anchoredSequence = 2147483647

// belowRow says whether the keyset position height:seq:index lies below
// the row last: at a lower height, or at its height among the microblock
// transactions (which sort below the block's own), or, among the block's
// own, at a lower tx_index. A row does not carry its microblock sequence,
// so a position among microblock transactions at the row's height is taken
// as below it.
func belowRow(height, seq, index int64, last chain.Tx) bool {
	switch {
	case height != last.BlockHeight:
		return height < last.BlockHeight
	case seq != anchoredSequence:
		return true
	default:
		return index < last.TxIndex
	}
}

// DecodeV3Tx decodes one v3 TransactionSummary into the store's row. The
// v3 lists serve canonical transactions only, so Canonical is true.
func DecodeV3Tx(raw []byte) (chain.Tx, error) {
	var v v3Summary
	if err := decodeJSON(raw, &v); err != nil {
		return chain.Tx{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return v.convert()
}

// convert checks a decoded v3 TransactionSummary and makes the row of it.
func (v *v3Summary) convert() (chain.Tx, error) {
	missing := func(field string) error {
		return fmt.Errorf("%w: transaction %q lacks %s", ErrMalformed, v.TxID, field)
	}
	switch {
	case v.TxID == "":
		return chain.Tx{}, missing("tx_id")
	case v.Type == "":
		return chain.Tx{}, missing("type")
	case v.Status == "":
		return chain.Tx{}, missing("status")
	case v.Sender == nil || v.Sender.Address == "":
		return chain.Tx{}, missing("sender.address")
	case v.Sender.Nonce == nil:
		return chain.Tx{}, missing("sender.nonce")
	case v.Block == nil || v.Block.Height == nil:
		return chain.Tx{}, missing("block.height")
	case v.Block.TxIndex == nil:
		return chain.Tx{}, missing("block.tx_index")
	case v.BitcoinBlock == nil || v.BitcoinBlock.Height == nil:
		return chain.Tx{}, missing("bitcoin_block.height")
	case v.BitcoinBlock.Time == nil:
		return chain.Tx{}, missing("bitcoin_block.time")
	}
	fee, ok := parseMicroSTX(v.FeeRate)
	if !ok {
		return chain.Tx{}, &ValueError{TxID: shorten(v.TxID), Field: "fee_rate", Value: shorten(v.FeeRate), Want: "a µSTX amount, an unsigned 64-bit decimal string"}
	}
	blockTime := v.Block.Time
	if blockTime == 0 { // pre-Nakamoto blocks: fall back to the burn time, as v1 does
		blockTime = *v.BitcoinBlock.Time
	}
	tx := chain.Tx{
		TxID:            v.TxID,
		TxType:          v.Type,
		TxStatus:        v.Status,
		BlockHeight:     *v.Block.Height,
		BlockHash:       v.Block.Hash,
		BlockTime:       time.Unix(blockTime, 0).UTC(),
		BurnBlockHeight: *v.BitcoinBlock.Height,
		BurnBlockTime:   time.Unix(*v.BitcoinBlock.Time, 0).UTC(),
		TxIndex:         *v.Block.TxIndex,
		SenderAddress:   v.Sender.Address,
		Nonce:           *v.Sender.Nonce,
		FeeRate:         fee,
		Canonical:       true,
	}
	if v.Sponsor != nil {
		if v.Sponsor.Address == "" {
			return chain.Tx{}, missing("sponsor.address")
		}
		tx.Sponsored, tx.SponsorAddress = true, v.Sponsor.Address
	}
	switch v.Type {
	case "token_transfer":
		tt := v.TokenTransfer
		if tt == nil {
			return chain.Tx{}, missing("token_transfer")
		}
		amount, ok := parseMicroSTX(tt.Amount)
		if !ok {
			return chain.Tx{}, &ValueError{TxID: shorten(v.TxID), Field: "token_transfer.amount", Value: shorten(tt.Amount), Want: "a µSTX amount, an unsigned 64-bit decimal string"}
		}
		memo, err := decodeMemo(tt.Memo)
		if err != nil {
			return chain.Tx{}, fmt.Errorf("%w: transaction %s: token_transfer.memo: %v", ErrMalformed, v.TxID, err)
		}
		tx.TokenTransferRecipientAddress = tt.Recipient
		if tx.TokenTransferRecipientAddress == "" {
			tx.TokenTransferRecipientAddress = tt.RecipientAddress
		}
		tx.TokenTransferAmount = amount
		tx.TokenTransferMemo = memo
	case "contract_call":
		if v.ContractCall == nil {
			return chain.Tx{}, missing("contract_call")
		}
		tx.ContractCallContractID = v.ContractCall.ContractID
		tx.ContractCallFunctionName = v.ContractCall.FunctionName
	case "smart_contract":
		if v.SmartContract == nil {
			return chain.Tx{}, missing("smart_contract")
		}
		tx.SmartContractContractID = v.SmartContract.ContractID
	}
	if err := checkTx(&tx, time.Now()); err != nil {
		return chain.Tx{}, err
	}
	return tx, nil
}

// decodeMemo accepts the memo as the schema's {hex, repr} object, as a plain
// hex string (the v1 form), or null.
func decodeMemo(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := decodeJSON(raw, &s)
		return s, err
	}
	var obj struct {
		Hex *string `json:"hex"`
	}
	if err := decodeJSON(raw, &obj); err != nil {
		return "", err
	}
	if obj.Hex == nil {
		return "", errors.New("object without hex")
	}
	return *obj.Hex, nil
}

// ParseCursor splits a v3 transaction cursor height:microblock_sequence:tx_index.
func ParseCursor(s string) (height, microblockSeq, txIndex int64, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("cursor %q: want height:microblock_sequence:tx_index", s)
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 {
			return 0, 0, 0, fmt.Errorf("cursor %q: want three non-negative integers", s)
		}
		n[i] = v
	}
	return n[0], n[1], n[2], nil
}

// BlockTopCursor is the cursor of the top of block height: the API widens
// height:0:0, which matches no transaction, to the block's last one.
func BlockTopCursor(height int64) string { return strconv.FormatInt(height, 10) + ":0:0" }

// BlockRef is what the backfill needs of a block.
type BlockRef struct {
	Height          int64
	BlockTime       time.Time
	BurnBlockHeight int64
	BurnBlockTime   time.Time
}

// BlockAtTime returns the most recent block whose block_time is at or
// before unix (GET /extended/v2/blocks/by-block-time/{unix}); ErrBlockNotFound
// when the chain is younger, ErrV3Unavailable when the route is missing
// (it came with API v9, like v3).
func (c *Client) BlockAtTime(ctx context.Context, unix int64) (BlockRef, error) {
	var b struct {
		Height          *int64 `json:"height"`
		BlockTime       int64  `json:"block_time"`
		BurnBlockHeight int64  `json:"burn_block_height"`
		BurnBlockTime   *int64 `json:"burn_block_time"`
	}
	path := "/extended/v2/blocks/by-block-time/" + strconv.FormatInt(unix, 10)
	_, err := c.Get(ctx, path, nil, func(body []byte) error {
		if err := decodeJSON(body, &b); err != nil || b.Height == nil || b.BurnBlockTime == nil {
			return fmt.Errorf("%w: %s has no height or burn_block_time", ErrMalformed, path)
		}
		return nil
	})
	if err != nil {
		return BlockRef{}, fmt.Errorf("block at time %d: %w", unix, classify404(err, "block"))
	}
	return BlockRef{Height: *b.Height, BlockTime: time.Unix(b.BlockTime, 0).UTC(),
		BurnBlockHeight: b.BurnBlockHeight, BurnBlockTime: time.Unix(*b.BurnBlockTime, 0).UTC()}, nil
}
