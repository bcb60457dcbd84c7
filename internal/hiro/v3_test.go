package hiro

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// The fixture follows the API's v3 TransactionSummary shape:
// every transaction type, a sponsor, amounts beyond 2^53, and the memo as
// the schema's {hex, repr} object.
func TestDecodeV3PageFixture(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "v3_transactions_page.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodeV3Page(body, 5)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 98765432 || p.Limit != 5 || p.Current != "2440447:2147483647:4" ||
		p.Next != "2440446:2147483647:6" || p.Previous != "2440449:2147483647:1" || len(p.Txs) != 5 {
		t.Fatalf("envelope %+v", p)
	}
	block := func(h int64, hash string, bt int64, idx int64) chain.Tx {
		return chain.Tx{BlockHeight: h, BlockHash: hash, BlockTime: time.Unix(bt, 0).UTC(), TxIndex: idx,
			BurnBlockHeight: 907977, BurnBlockTime: time.Unix(1753979615, 0).UTC(), Canonical: true}
	}
	const h47 = "0x5639903562e3e65792795f2fc7a8776351c99fda7154fd3985f337b5c0b02bf5"
	const h46 = "0x60bb6f8391ffec443faad81c3ae5ee2bb44eb4eb56b75b29b043acf2b01f2a3d"
	want := []chain.Tx{block(2440447, h47, 1753980719, 4), block(2440447, h47, 1753980719, 1),
		block(2440446, h46, 1753980700, 9), block(2440446, h46, 1753980700, 8), block(2440446, h46, 1753980700, 7)}
	w := &want[0]
	w.TxID, w.TxType, w.TxStatus = "0x2ef172b123b1872772c66250c936885e4621d0a7715ff67f44b051b0cd2e8802", "token_transfer", "success"
	w.SenderAddress, w.Nonce, w.FeeRate = "SP3XXK8BG5X7CRH7W07RRJK3JZJXJ799WX3Y0SMCR", 15667, 18446744073709551615
	w.TokenTransferRecipientAddress, w.TokenTransferAmount = "SP3SBQ9PZEMBNBAWTR7FRPE3XK0EFW9JWVX4G80S2", 9007199254740993
	w.TokenTransferMemo = "0x68656c6c6f00000000000000000000000000000000000000000000000000000000"
	w = &want[1]
	w.TxID, w.TxType, w.TxStatus = "0xa3a507295688f791c5e4e78ba2d293bd8c415f1232357f82f539410c5ae20dd1", "contract_call", "abort_by_post_condition"
	w.SenderAddress, w.Nonce, w.FeeRate = "SP3T156FGQ9J6H9A6AZY2BA6SJJCCHPZB0Z97STDF", 613, 150000
	w.Sponsored, w.SponsorAddress = true, "SPXVRSEH2BKSXAEJ00F1BY562P45D5ERPSKR4Q33"
	w.ContractCallContractID, w.ContractCallFunctionName = "SP001SFSMC2ZY76PD4M68P3WGX154XCH7NE3TYMX.pox4-pools", "delegate-stx"
	w = &want[2]
	w.TxID, w.TxType, w.TxStatus = "0x3b0a1c5e2f6d4a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b", "smart_contract", "success"
	w.SenderAddress, w.SmartContractContractID = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7", "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.my-token"
	w = &want[3]
	w.TxID, w.TxType, w.TxStatus = "0x4c1b2d6f3a7e5b9cad1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c", "coinbase", "success"
	w.SenderAddress, w.Nonce = "SP1HTBVD3JG9C05J7HBJTHGR0GGW7KXW28M5JS8QE", 81234
	w = &want[4]
	w.TxID, w.TxType, w.TxStatus = "0x5d2c3e7a4b8f6cadbe2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d", "tenure_change", "success"
	w.SenderAddress, w.Nonce = "SP1HTBVD3JG9C05J7HBJTHGR0GGW7KXW28M5JS8QE", 81233
	for i := range want {
		if p.Txs[i] != want[i] {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, p.Txs[i], want[i])
		}
	}
}

// Valid values of the API's shapes for hand-written bodies.
const (
	txA    = "0x2ef172b123b1872772c66250c936885e4621d0a7715ff67f44b051b0cd2e8802"
	txB    = "0xa3a507295688f791c5e4e78ba2d293bd8c415f1232357f82f539410c5ae20dd1"
	blockB = "0x5639903562e3e65792795f2fc7a8776351c99fda7154fd3985f337b5c0b02bf5"
	addrA  = "SP3XXK8BG5X7CRH7W07RRJK3JZJXJ799WX3Y0SMCR"
	addrB  = "SP3SBQ9PZEMBNBAWTR7FRPE3XK0EFW9JWVX4G80S2"
)

// summary is a valid v3 TransactionSummary; over replaces top-level fields
// ("key": raw JSON), and a "-key" entry drops one.
func summary(over ...string) string {
	fields := [][2]string{
		{"tx_id", `"` + txA + `"`}, {"type", `"token_transfer"`}, {"status", `"success"`}, {"fee_rate", `"1"`},
		{"sender", `{"address":"` + addrA + `","nonce":3}`}, {"sponsor", `null`},
		{"block", `{"height":10,"hash":"` + blockB + `","index_hash":"0xi","time":1753980719,"tx_index":0}`},
		{"bitcoin_block", `{"height":9,"time":1753979615}`},
		{"token_transfer", `{"recipient":"` + addrB + `","amount":"5","memo":"0x00"}`},
	}
	for i := 0; i+1 < len(over); i += 2 {
		k, v := over[i], over[i+1]
		found := false
		for j := range fields {
			if fields[j][0] == strings.TrimPrefix(k, "-") {
				fields[j][1], found = v, true
				if strings.HasPrefix(k, "-") {
					fields = append(fields[:j], fields[j+1:]...)
				}
				break
			}
		}
		if !found {
			fields = append(fields, [2]string{k, v})
		}
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf("%q:%s", f[0], f[1])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// page is a body as the API serves it to a request for PageLimit rows: a
// last page (no next cursor) claims that limit, and a page with a next
// cursor is full, so it claims as many rows as it has (the test decodes it
// with that limit, see claimedLimit).
func page(next string, results ...string) string {
	n, limit := "null", PageLimit
	if next != "" {
		n, limit = `"`+next+`"`, len(results)
	}
	return fmt.Sprintf(`{"total":9,"limit":%d,"cursor":{"next":%s,"previous":null,"current":"10:2147483647:0"},"results":[%s]}`,
		limit, n, strings.Join(results, ","))
}

// claimedLimit is the limit a test body claims: the one its request asked
// for, in the tests that are not about the limit.
func claimedLimit(t *testing.T, body string) int {
	t.Helper()
	var env struct{ Limit int }
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return PageLimit // a body that is not JSON fails before its limit is read
	}
	return env.Limit
}

func TestDecodeV3Memo(t *testing.T) {
	for _, tt := range []struct{ memo, want string }{
		{`"0x00ff"`, "0x00ff"},
		{`{"hex":"0x00ff","repr":"0x00ff"}`, "0x00ff"},
		{`null`, ""},
	} {
		p, err := DecodeV3Page([]byte(page("", summary("token_transfer", `{"recipient":"`+addrB+`","amount":"5","memo":`+tt.memo+`}`))), PageLimit)
		if err != nil || p.Txs[0].TokenTransferMemo != tt.want {
			t.Errorf("memo %s: %v %+v", tt.memo, err, p)
		}
	}
}

func TestDecodeV3PageMalformed(t *testing.T) {
	good := page("9:2147483647:0", summary())
	if _, err := DecodeV3Page([]byte(good), claimedLimit(t, good)); err != nil {
		t.Fatalf("good page: %v", err)
	}
	// At its own height a next cursor must name a row below the last one:
	// a lower tx_index among the block's own, or a microblock's.
	rowAt := func(index int) string {
		return summary("tx_id", fmt.Sprintf(`"0x%064x"`, index), "block", fmt.Sprintf(`{"height":10,"hash":"%s","index_hash":"0xi","time":1753980719,"tx_index":%d}`, blockB, index))
	}
	for _, next := range []string{"10:2147483647:4", "10:3:7", "9:2147483647:9"} {
		body := fmt.Sprintf(`{"total":9,"limit":1,"cursor":{"next":"%s","previous":null,"current":"10:2147483647:5"},"results":[%s]}`, next, rowAt(5))
		if _, err := DecodeV3Page([]byte(body), 1); err != nil {
			t.Fatalf("next %s below the row 10:*:5: %v", next, err)
		}
	}
	twoRows := func(next string) string {
		return fmt.Sprintf(`{"total":9,"limit":2,"cursor":{"next":"%s","previous":null,"current":"10:2147483647:8"},"results":[%s,%s]}`,
			next, rowAt(8), rowAt(4))
	}
	older := summary("block", `{"height":9,"hash":"`+blockB+`","index_hash":"0xi","time":1753980719,"tx_index":0}`)
	bad := []struct {
		name, body string
		limit      int // asked; 0: what the body claims
	}{
		{"truncated", good[:len(good)/2], 0},
		{"html error page", `<html>502 Bad Gateway</html>`, 0},
		{"no cursor", `{"total":1,"limit":1,"results":[]}`, 0},
		{"no results", `{"total":1,"limit":1,"cursor":{"next":null}}`, 0},
		{"float fee", page("", summary("fee_rate", `"1.5"`)), 0},
		{"negative amount", page("", summary("token_transfer", `{"recipient":"SPB","amount":"-5","memo":null}`)), 0},
		{"memo object without hex", page("", summary("token_transfer", `{"recipient":"SPB","amount":"5","memo":{"repr":"x"}}`)), 0},
		{"missing burn time", page("", summary("bitcoin_block", `{"height":9}`)), 0},
		{"missing sender nonce", page("", summary("sender", `{"address":"SPA"}`)), 0},
		{"missing tx_index", page("", summary("block", `{"height":10,"time":100}`)), 0},
		{"transfer without payload", page("", summary("-token_transfer", "")), 0},
		{"rows going up", page("", older, summary("tx_id", fmt.Sprintf(`"0x%064x"`, 2))), 0},
		{"next above the page", page("11:2147483647:0", summary()), 0},
		{"next on a short page", `{"total":9,"limit":50,"cursor":{"next":"9:2147483647:0","current":"10:2147483647:0"},"results":[` + summary() + `]}`, 50},
		{"a smaller limit than asked, with a next cursor", `{"total":9,"limit":1,"cursor":{"next":"9:2147483647:0","current":"10:2147483647:0"},"results":[` + summary() + `]}`, 50},
		{"a larger limit than asked", `{"total":9,"limit":2,"cursor":{"next":null,"current":"10:2147483647:0"},"results":[` + summary() + `]}`, 1},
		{"bad next", page("nine", summary()), 0},
		{"next at the page's first row", twoRows("10:2147483647:8"), 2},
		{"next between the page's rows", twoRows("10:2147483647:6"), 2},
		{"next at the page's last row", twoRows("10:2147483647:4"), 2},
		{"rows without a current cursor", `{"total":9,"limit":1,"cursor":{"next":null},"results":[` + summary() + `]}`, 0},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			limit := b.limit
			if limit == 0 {
				limit = claimedLimit(t, b.body)
			}
			if _, err := DecodeV3Page([]byte(b.body), limit); !errors.Is(err, ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
		})
	}
}

func respond(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

const routeNotFound = `{"message":"Route GET:/extended/v3/transactions?limit=50 not found","error":"Not Found","statusCode":404}`

func TestV3TransactionsErrors(t *testing.T) {
	ok := page("", summary())
	tests := []struct {
		name     string
		steps    []func(http.ResponseWriter, *http.Request)
		want     error
		requests int64
	}{
		{"ok", []func(http.ResponseWriter, *http.Request){respond(200, ok)}, nil, 1},
		{"truncated then ok", []func(http.ResponseWriter, *http.Request){respond(200, ok[:30]), respond(200, ok)}, nil, 2},
		{"cursor not found", []func(http.ResponseWriter, *http.Request){respond(404, `{"error":"Cursor not found"}`)}, ErrCursorNotFound, 1},
		{"route missing", []func(http.ResponseWriter, *http.Request){respond(404, routeNotFound)}, ErrV3Unavailable, 1},
		{"proxy 404 page", []func(http.ResponseWriter, *http.Request){respond(404, `<html>404 Not Found</html>`)}, ErrV3Unavailable, 1},
		{"gone", []func(http.ResponseWriter, *http.Request){respond(410, `{"error":"Gone"}`)}, ErrGone, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var query string
			steps := append([]func(http.ResponseWriter, *http.Request){}, tt.steps...)
			first := steps[0]
			steps[0] = func(w http.ResponseWriter, r *http.Request) { query = r.URL.RawQuery; first(w, r) }
			srv, n := scripted(t, steps...)
			c := newTestClient(t, srv.URL, nil)
			p, body, err := c.V3Transactions(context.Background(), "12:0:0")
			if tt.want == nil && (err != nil || len(p.Txs) != 1 || string(body) != ok) {
				t.Fatalf("got %+v %v", p, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
			if n.Load() != tt.requests {
				t.Fatalf("%d requests, want %d", n.Load(), tt.requests)
			}
			if query != "cursor=12%3A0%3A0&limit=50" {
				t.Fatalf("query %q", query)
			}
		})
	}
}

func TestProbeV3(t *testing.T) {
	tests := []struct {
		name    string
		step    func(http.ResponseWriter, *http.Request)
		want    bool
		wantErr bool
	}{
		{"served", respond(200, `{"total":9,"limit":1,"cursor":{"next":"9:2147483647:0","previous":null,"current":"10:2147483647:0"},"results":[`+summary()+`]}`), true, false},
		{"empty chain", respond(200, `{"total":0,"limit":1,"cursor":{"next":null,"previous":null,"current":null},"results":[]}`), true, false},
		{"route missing", respond(404, routeNotFound), false, false},
		{"gone", respond(410, `{"error":"Gone"}`), false, false},
		{"forbidden", respond(403, `{"error":"no"}`), false, false},
		{"server keeps failing", respond(503, `{"error":"down"}`), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var query string
			srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) { query = r.URL.RawQuery; tt.step(w, r) })
			got, err := newTestClient(t, srv.URL, nil).ProbeV3(context.Background())
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("probe = %v, %v", got, err)
			}
			if query != "limit=1" {
				t.Fatalf("probe query %q", query)
			}
		})
	}
}

func TestBlockAtTime(t *testing.T) {
	var path string
	srv, _ := scripted(t,
		func(w http.ResponseWriter, r *http.Request) {
			path = r.URL.Path
			respond(200, `{"canonical":true,"height":77,"hash":"0xh","block_time":1000,"burn_block_time":940,"burn_block_height":5}`)(w, r)
		},
		respond(404, `{"error":"Block not found"}`),
		respond(404, `{"message":"Route GET:/extended/v2/blocks/by-block-time/5 not found","error":"Not Found","statusCode":404}`),
	)
	c := newTestClient(t, srv.URL, nil)
	b, err := c.BlockAtTime(context.Background(), 1001)
	if err != nil || b.Height != 77 || b.BurnBlockTime.Unix() != 940 || b.BlockTime.Unix() != 1000 || b.BurnBlockHeight != 5 {
		t.Fatalf("block %+v %v", b, err)
	}
	if path != "/extended/v2/blocks/by-block-time/1001" {
		t.Fatalf("path %s", path)
	}
	if _, err := c.BlockAtTime(context.Background(), 5); !errors.Is(err, ErrBlockNotFound) {
		t.Fatalf("before the chain: %v", err)
	}
	if _, err := c.BlockAtTime(context.Background(), 5); !errors.Is(err, ErrV3Unavailable) {
		t.Fatalf("route missing: %v", err)
	}
}

func TestParseCursor(t *testing.T) {
	h, m, i, err := ParseCursor("2440446:2147483647:6")
	if err != nil || h != 2440446 || m != 2147483647 || i != 6 {
		t.Fatal(h, m, i, err)
	}
	for _, bad := range []string{"", "1:2", "1:2:3:4", "a:0:0", "-1:0:0"} {
		if _, _, _, err := ParseCursor(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if BlockTopCursor(12) != "12:0:0" {
		t.Fatal(BlockTopCursor(12))
	}
}

// The chain's first height follows from the tip and the block count, and
// is unknown without a count.
func TestTipFirstHeight(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tip  Tip
		want int64
		ok   bool
	}{
		{Tip{Height: 300, Blocks: 151}, 150, true},
		{Tip{Height: 300, Blocks: 1000}, 0, true}, // more blocks than heights: never below 0
		{Tip{Height: 300}, 0, false},
	} {
		if got, ok := tt.tip.FirstHeight(); got != tt.want || ok != tt.ok {
			t.Errorf("%+v: FirstHeight = %d, %v; want %d, %v", tt.tip, got, ok, tt.want, tt.ok)
		}
	}
}
