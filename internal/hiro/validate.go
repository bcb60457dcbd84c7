package hiro

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Bounds of the values the API can send. A value outside them decodes but
// cannot be true: the page carrying it is a bad page.
const (
	// MaxFutureSkew is how far past the local clock a block_time or
	// burn_block_time may lie. Bitcoin accepts block timestamps up to two
	// hours ahead of the network's clock; one more hour allows for a local
	// clock that runs behind.
	MaxFutureSkew = 3 * time.Hour
	// MaxTxIndex is the largest tx_index kept. The API's own column is far
	// smaller (its cursors widen to 32767), and the store keeps tx_index
	// in a 32-bit INTEGER column: nothing larger may reach it, where a cast
	// would cut it silently.
	MaxTxIndex = math.MaxInt32
	// MaxJSONInt is the largest integer a JSON number carries exactly
	// (2^53-1): heights and nonces beyond it cannot be what the node said.
	MaxJSONInt = 1<<53 - 1
	// MaxMemoBytes is the size of a token transfer memo on chain.
	MaxMemoBytes = 34
	// MaxNameBytes caps a contract or function name (Clarity names are at
	// most 128 characters).
	MaxNameBytes = 128
	// maxShownValue is how much of a bad value an error repeats.
	maxShownValue = 64
)

// StacksGenesis is the launch of Stacks 2.0 (Bitcoin block 666,050): no
// block of the chain this product reads is older.
var StacksGenesis = time.Date(2021, 1, 14, 0, 0, 0, 0, time.UTC)

// ErrImpossibleValue marks a field whose value decodes but cannot be true.
var ErrImpossibleValue = errors.New("impossible value")

// ValueError is a field of a transaction whose value the API cannot send:
// a tx_id that is not 32 bytes of hex, a negative height, a pending
// status, a time before the chain began. It matches both ErrImpossibleValue
// and ErrMalformed, so the page is retried like a truncated one and never
// stored.
type ValueError struct {
	TxID  string // the transaction's tx_id as sent (truncated)
	Field string // the API's field name, e.g. "tx_index" or "token_transfer.memo"
	Value string // the value as sent (truncated)
	Want  string // what the API can send
}

// Error names the field, the value and the rule it breaks.
func (e *ValueError) Error() string {
	return fmt.Sprintf("%v: transaction %q: %s = %q: want %s", ErrImpossibleValue, e.TxID, e.Field, e.Value, e.Want)
}

// Unwrap lets errors.Is find ErrImpossibleValue and ErrMalformed.
func (e *ValueError) Unwrap() []error { return []error{ErrImpossibleValue, ErrMalformed} }

// shorten truncates a value for an error message.
func shorten(s string) string {
	if len(s) <= maxShownValue {
		return s
	}
	cut := maxShownValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// The shapes below are checked byte by byte rather than with regular
// expressions: every field of every transaction passes through them, and
// the regexp engine cost a quarter of a page's decoding.

// isHash32 reports whether s is a 0x-prefixed 32-byte hash in lowercase
// hex, as the API writes tx ids and block hashes.
func isHash32(s string) bool { return isLowerHex0x(s, 32, 32) }

// isMemo reports whether s is a 0x-prefixed memo of at most MaxMemoBytes
// bytes in lowercase hex.
func isMemo(s string) bool { return isLowerHex0x(s, 0, MaxMemoBytes) }

// isLowerHex0x reports whether s is 0x and from minBytes to maxBytes bytes
// written as lowercase hex digit pairs.
func isLowerHex0x(s string, minBytes, maxBytes int) bool {
	n := len(s) - 2
	if n < 2*minBytes || n > 2*maxBytes || n%2 != 0 || s[0] != '0' || s[1] != 'x' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// c32Alphabet marks the characters of Crockford's base32 as c32 writes
// them: digits and upper-case letters without I, L, O and U.
var c32Alphabet = func() (set [256]bool) {
	for _, c := range "0123456789ABCDEFGHJKMNPQRSTVWXYZ" {
		set[c] = true
	}
	return set
}()

var (
	txTypes = map[string]bool{"token_transfer": true, "smart_contract": true, "contract_call": true,
		"poison_microblock": true, "coinbase": true, "tenure_change": true}
	// finalStatuses are the statuses of mined transactions, the only ones a
	// list of confirmed transactions serves; pending and dropped_* belong
	// to the mempool.
	finalStatuses = map[string]bool{"success": true, "abort_by_response": true,
		"abort_by_post_condition": true, "problematic_skipped": true}
)

// isAddress reports whether s is shaped like a standard Stacks principal:
// S, a version character (P and M on mainnet, T and N on testnet), then 24
// to 40 c32 characters. Twenty hash bytes and four checksum bytes make 39
// characters, fewer when the hash starts with zero bytes.
func isAddress(s string) bool {
	if len(s) < 26 || len(s) > 42 || s[0] != 'S' || !strings.ContainsRune("PMTN", rune(s[1])) {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !c32Alphabet[s[i]] {
			return false
		}
	}
	return true
}

// isContractID reports whether s is address.name with a bounded, printable
// name. The name's characters are otherwise left to the node: what the
// product shows, it escapes.
func isContractID(s string) bool {
	addr, name, ok := strings.Cut(s, ".")
	return ok && isAddress(addr) && isName(name) && !strings.Contains(name, ".")
}

// isName reports whether s is a non-empty, printable name of at most
// MaxNameBytes bytes.
func isName(s string) bool {
	if s == "" || len(s) > MaxNameBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// parseMicroSTX reads an amount or fee: an exact unsigned 64-bit decimal
// string, without sign or leading zeros.
func parseMicroSTX(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// checkTx checks every field of a decoded transaction against what the API
// can send, at now.
func checkTx(t *chain.Tx, now time.Time) error {
	bad := func(field, value, want string) error {
		return &ValueError{TxID: shorten(t.TxID), Field: field, Value: shorten(value), Want: want}
	}
	itoa := func(v int64) string { return strconv.FormatInt(v, 10) }
	latest := now.Add(MaxFutureSkew)
	timeOK := func(v time.Time) bool { return !v.Before(StacksGenesis) && !v.After(latest) }
	timeWant := func() string { // only for an error: formatting costs more than the checks
		return fmt.Sprintf("a Unix time from %s to %s (now plus %s)", StacksGenesis.Format(time.DateOnly), latest.UTC().Format(time.DateTime), MaxFutureSkew)
	}
	switch {
	case !isHash32(t.TxID):
		return bad("tx_id", t.TxID, "0x and 64 lower-case hex digits")
	case !txTypes[t.TxType]:
		return bad("tx_type", t.TxType, "a transaction type of the API")
	case !finalStatuses[t.TxStatus]:
		return bad("tx_status", t.TxStatus, "the status of a mined transaction (success, abort_by_response, abort_by_post_condition, problematic_skipped)")
	case t.BlockHeight < 0 || t.BlockHeight > MaxJSONInt:
		return bad("block_height", itoa(t.BlockHeight), "a height from 0 to 2^53-1")
	case !isHash32(t.BlockHash):
		return bad("block_hash", t.BlockHash, "0x and 64 lower-case hex digits")
	case !timeOK(t.BlockTime):
		return bad("block_time", itoa(t.BlockTime.Unix()), timeWant())
	case t.BurnBlockHeight < 0 || t.BurnBlockHeight > MaxJSONInt:
		return bad("burn_block_height", itoa(t.BurnBlockHeight), "a height from 0 to 2^53-1")
	case !timeOK(t.BurnBlockTime):
		return bad("burn_block_time", itoa(t.BurnBlockTime.Unix()), timeWant())
	case t.TxIndex < 0 || t.TxIndex > MaxTxIndex:
		return bad("tx_index", itoa(t.TxIndex), "a position from 0 to 2^31-1")
	case !isAddress(t.SenderAddress):
		return bad("sender_address", t.SenderAddress, "a c32 Stacks address")
	case t.Nonce < 0 || t.Nonce > MaxJSONInt:
		return bad("nonce", itoa(t.Nonce), "a nonce from 0 to 2^53-1")
	case t.SponsorAddress != "" && !isAddress(t.SponsorAddress):
		return bad("sponsor_address", t.SponsorAddress, "a c32 Stacks address")
	case t.SponsorAddress != "" && !t.Sponsored:
		return bad("sponsored", "false", "true when a sponsor is named")
	}
	switch t.TxType {
	case "token_transfer":
		r := t.TokenTransferRecipientAddress
		if !isAddress(r) && !isContractID(r) {
			return bad("token_transfer.recipient_address", r, "a c32 Stacks address or contract id")
		}
		if t.TokenTransferMemo != "" && !isMemo(t.TokenTransferMemo) {
			return bad("token_transfer.memo", t.TokenTransferMemo, fmt.Sprintf("0x and at most %d bytes of lower-case hex", MaxMemoBytes))
		}
	case "contract_call":
		if !isContractID(t.ContractCallContractID) {
			return bad("contract_call.contract_id", t.ContractCallContractID, "address.name, a contract id")
		}
		if !isName(t.ContractCallFunctionName) {
			return bad("contract_call.function_name", t.ContractCallFunctionName, fmt.Sprintf("a printable name of 1 to %d bytes", MaxNameBytes))
		}
	case "smart_contract":
		if !isContractID(t.SmartContractContractID) {
			return bad("smart_contract.contract_id", t.SmartContractContractID, "address.name, a contract id")
		}
	}
	return nil
}
