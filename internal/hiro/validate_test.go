package hiro

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mutated returns the fixture file with top-level (or "a.b" nested)
// fields replaced by raw JSON.
func mutated(t *testing.T, file string, set map[string]string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		outer, inner, nested := strings.Cut(k, ".")
		if !nested {
			obj[k] = json.RawMessage(v)
			continue
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(obj[outer], &sub); err != nil {
			t.Fatal(err)
		}
		sub[inner] = json.RawMessage(v)
		obj[outer], _ = json.Marshal(sub)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Values that decode but cannot be true make the page bad: a ValueError
// naming the field, matching ErrMalformed (retried, never stored).
func TestDecodeRejectsImpossibleValues(t *testing.T) {
	t.Parallel()
	future := strconv.FormatInt(time.Now().Add(MaxFutureSkew+time.Hour).Unix(), 10)
	megaMemo := `"0x` + strings.Repeat("00", 1<<20) + `"`
	tests := []struct {
		name, file string
		set        map[string]string
		field      string
	}{
		{"short tx_id", "mainnet_contract_call.json", map[string]string{"tx_id": `"0x01"`}, "tx_id"},
		{"upper-case tx_id", "mainnet_contract_call.json", map[string]string{"tx_id": `"0xA3A507295688F791C5E4E78BA2D293BD8C415F1232357F82F539410C5AE20DD1"`}, "tx_id"},
		{"negative nonce", "mainnet_contract_call.json", map[string]string{"nonce": `-1`}, "nonce"},
		{"nonce beyond 2^53", "mainnet_contract_call.json", map[string]string{"nonce": `9007199254740993`}, "nonce"},
		{"negative height", "mainnet_contract_call.json", map[string]string{"block_height": `-5`}, "block_height"},
		{"negative burn height", "mainnet_contract_call.json", map[string]string{"burn_block_height": `-5`}, "burn_block_height"},
		{"pending", "mainnet_contract_call.json", map[string]string{"tx_status": `"pending"`}, "tx_status"},
		{"dropped", "mainnet_contract_call.json", map[string]string{"tx_status": `"dropped_replace_by_fee"`}, "tx_status"},
		{"unknown type", "mainnet_contract_call.json", map[string]string{"tx_type": `"teleport"`}, "tx_type"},
		{"block_time 1969", "mainnet_contract_call.json", map[string]string{"block_time": `-1`}, "block_time"},
		{"block_time 10^13", "mainnet_contract_call.json", map[string]string{"block_time": `10000000000000`}, "block_time"},
		{"block_time before genesis", "mainnet_contract_call.json", map[string]string{"block_time": `1600000000`}, "block_time"},
		{"burn time in the future", "mainnet_contract_call.json", map[string]string{"burn_block_time": future}, "burn_block_time"},
		{"burn time 0 falls back nowhere", "mainnet_contract_call.json", map[string]string{"burn_block_time": `0`, "block_time": `0`}, "block_time"},
		{"tx_index beyond 2^32", "mainnet_contract_call.json", map[string]string{"tx_index": `4294967299`}, "tx_index"},
		{"tx_index beyond int32", "mainnet_contract_call.json", map[string]string{"tx_index": `2147483648`}, "tx_index"},
		{"negative tx_index", "mainnet_contract_call.json", map[string]string{"tx_index": `-1`}, "tx_index"},
		{"short block hash", "mainnet_contract_call.json", map[string]string{"block_hash": `"0xb"`}, "block_hash"},
		{"sender not c32", "mainnet_contract_call.json", map[string]string{"sender_address": `"SPA"`}, "sender_address"},
		{"sender with I", "mainnet_contract_call.json", map[string]string{"sender_address": `"SP3T156FGQ9J6H9A6AZY2BA6SJJCCHPZB0Z97STDI"`}, "sender_address"},
		{"sponsor not c32", "mainnet_contract_call.json", map[string]string{"sponsored": `true`, "sponsor_address": `"=cmd|' /C calc'!A0"`}, "sponsor_address"},
		{"contract id without name", "mainnet_contract_call.json", map[string]string{"contract_call.contract_id": `"SP001SFSMC2ZY76PD4M68P3WGX154XCH7NE3TYMX"`}, "contract_call.contract_id"},
		{"contract id formula", "mainnet_contract_call.json", map[string]string{"contract_call.contract_id": `"=cmd|' /C calc'!A0"`}, "contract_call.contract_id"},
		{"function name too long", "mainnet_contract_call.json", map[string]string{"contract_call.function_name": `"` + strings.Repeat("f", MaxNameBytes+1) + `"`}, "contract_call.function_name"},
		{"function name with a newline", "mainnet_contract_call.json", map[string]string{"contract_call.function_name": `"a\nb"`}, "contract_call.function_name"},
		{"fee with a sign", "mainnet_contract_call.json", map[string]string{"fee_rate": `"+5"`}, "fee_rate"},
		{"fee with leading zeros", "mainnet_contract_call.json", map[string]string{"fee_rate": `"007"`}, "fee_rate"},
		{"fee beyond u64", "mainnet_contract_call.json", map[string]string{"fee_rate": `"18446744073709551616"`}, "fee_rate"},
		{"1 MB memo", "token_transfer.json", map[string]string{"token_transfer.memo": megaMemo}, "token_transfer.memo"},
		{"memo not hex", "token_transfer.json", map[string]string{"token_transfer.memo": `"hello"`}, "token_transfer.memo"},
		{"negative amount", "token_transfer.json", map[string]string{"token_transfer.amount": `"-1"`}, "token_transfer.amount"},
		{"recipient not an address", "token_transfer.json", map[string]string{"token_transfer.recipient_address": `"@SUM(A1)"`}, "token_transfer.recipient_address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := mutated(t, tt.file, tt.set)
			_, _, err := DecodeTx(raw)
			var ve *ValueError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("want a ValueError on %s, got %v", tt.field, err)
			}
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrImpossibleValue) {
				t.Fatalf("%v is not retried as a bad page", err)
			}
			if len(ve.Value) > maxShownValue+len("…") || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %q", err)
			}
			// The whole page is bad, not just the row.
			page := `{"limit":50,"offset":0,"total":1,"results":[` + string(raw) + `]}`
			if _, err := DecodeTxPage([]byte(page)); !errors.As(err, &ve) {
				t.Fatalf("page: %v", err)
			}
		})
	}
}

// The v3 summaries are held to the same bounds.
func TestDecodeV3RejectsImpossibleValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		over  []string
		field string
	}{
		{"short tx_id", []string{"tx_id", `"0x01"`}, "tx_id"},
		{"pending", []string{"status", `"pending"`}, "tx_status"},
		{"negative nonce", []string{"sender", `{"address":"` + addrA + `","nonce":-3}`}, "nonce"},
		{"tx_index beyond 2^32", []string{"block", `{"height":10,"hash":"` + blockB + `","time":1753980719,"tx_index":4294967299}`}, "tx_index"},
		{"block time 1969", []string{"block", `{"height":10,"hash":"` + blockB + `","time":-1,"tx_index":0}`}, "block_time"},
		{"bitcoin time 10^13", []string{"bitcoin_block", `{"height":9,"time":10000000000000}`}, "burn_block_time"},
		{"sponsor not c32", []string{"sponsor", `{"address":"x"}`}, "sponsor_address"},
		{"memo too long", []string{"token_transfer", `{"recipient":"` + addrB + `","amount":"5","memo":"0x` + strings.Repeat("ab", MaxMemoBytes+1) + `"}`}, "token_transfer.memo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeV3Page([]byte(page("", summary(tt.over...))), PageLimit)
			var ve *ValueError
			if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, ErrMalformed) {
				t.Fatalf("want a ValueError on %s, got %v", tt.field, err)
			}
		})
	}
}

// A page with an impossible value is requested again, and given up after
// the retries: it is never returned to be stored.
func TestClientRetriesImpossiblePage(t *testing.T) {
	t.Parallel()
	body := `{"total":9,"limit":50,"cursor":{"next":null,"previous":null,"current":"10:2147483647:0"},"results":[` +
		summary("status", `"pending"`) + `]}`
	srv, n := scripted(t, respond(200, body))
	c := newTestClient(t, srv.URL, nil)
	_, _, err := c.V3Transactions(t.Context(), "10:0:0")
	var ve *ValueError
	if !errors.As(err, &ve) || n.Load() != 4 || c.Stats.Malformed.Load() != 4 {
		t.Fatalf("err %v after %d requests (%d malformed)", err, n.Load(), c.Stats.Malformed.Load())
	}
}

// TestShapesAgreeWithTheirPatterns checks the byte-by-byte shape checks
// against the regular expressions that define them, on strings made to sit
// on every edge: lengths around each bound, and characters just outside
// each allowed range.
func TestShapesAgreeWithTheirPatterns(t *testing.T) {
	t.Parallel()
	patterns := []struct {
		name    string
		check   func(string) bool
		re      *regexp.Regexp
		heads   []string // prefixes to try
		allowed string   // characters the pattern allows after the prefix
		outside string   // characters just outside the allowed ranges
		maxN    int
	}{
		{"hash32", isHash32, regexp.MustCompile(`^0x[0-9a-f]{64}$`), []string{"0x", "0X", "1x", "", "x"}, "0123456789abcdef", "/:`gAF", 68},
		{"memo", isMemo, regexp.MustCompile(`^0x(?:[0-9a-f]{2}){0,34}$`), []string{"0x", "0X", "00", ""}, "0123456789abcdef", "/:`gAF", 72},
		{"address", isAddress, regexp.MustCompile(`^S[PMTN][0-9A-HJKMNP-TV-Z]{24,40}$`), []string{"SP", "SM", "ST", "SN", "SA", "sP", "S", ""},
			"0123456789ABCDEFGHJKMNPQRSTVWXYZ", "/:@IOUL[a", 44},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range patterns {
		tried, accepted := 0, 0
		for _, head := range p.heads {
			for n := 0; n <= p.maxN; n++ {
				for try := range 40 {
					chars := p.allowed // every other string only from allowed characters
					if try%2 == 1 {
						chars += p.outside
					}
					b := []byte(head)
					for range n {
						b = append(b, chars[rng.IntN(len(chars))])
					}
					s := string(b)
					tried++
					want := p.re.MatchString(s)
					if want {
						accepted++
					}
					if got := p.check(s); got != want {
						t.Fatalf("%s(%q) = %v, the pattern says %v", p.name, s, got, want)
					}
				}
			}
		}
		if accepted == 0 || accepted == tried {
			t.Fatalf("%s: %d of %d strings accepted: the test does not reach both sides", p.name, accepted, tried)
		}
	}
}

// TestDecodeErrorsArePlainLines checks that a body the fast decoder
// rejects is reported with encoding/json's one-line reason, not a
// multi-line quote of the input.
func TestDecodeErrorsArePlainLines(t *testing.T) {
	t.Parallel()
	tx, err := os.ReadFile(filepath.Join("testdata", "token_transfer.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw := append(append([]byte(`{"limit":50,"offset":0,"total":1,"results":[`), tx...), "]}"...)
	if _, err := DecodeTxPage(raw); err != nil {
		t.Fatalf("the whole page: %v", err)
	}
	for name, body := range map[string][]byte{
		"truncated":     raw[:len(raw)/2],
		"wrong type":    []byte(`{"limit":50,"offset":0,"total":"many","results":[]}`),
		"trailing data": append(append([]byte{}, raw...), '{'),
	} {
		_, err := DecodeTxPage(body)
		var want error
		var env v1Envelope
		if want = json.Unmarshal(body, &env); want == nil {
			t.Fatalf("%s: encoding/json accepts the body", name)
		}
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), want.Error()) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %q, want ErrMalformed with %q on one line", name, err, want)
		}
	}
}
