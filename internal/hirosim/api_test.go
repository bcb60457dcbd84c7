package hirosim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func decodeUseNumber(t testing.TB, b []byte, out any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
}

func loadFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/fixtures/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	decodeUseNumber(t, b, &m)
	return m
}

func sortedKeys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// typesOf maps each key to its JSON type.
func typesOf(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = jsonType(v)
	}
	return out
}

var payloadKey = map[string]string{
	"token_transfer": "token_transfer", "contract_call": "contract_call", "smart_contract": "smart_contract",
	"coinbase": "coinbase_payload", "tenure_change": "tenure_change_payload",
}

// Payload shapes not covered by a fixture, as the Hiro API documents them.
var docPayloadTypes = map[string]map[string][]string{
	"smart_contract":   {"clarity_version": {"number", "null"}, "contract_id": {"string"}, "source_code": {"string"}},
	"coinbase_payload": {"data": {"string"}, "alt_recipient": {"string", "null"}, "vrf_proof": {"string", "null"}},
	"tenure_change_payload": {"tenure_consensus_hash": {"string"}, "prev_tenure_consensus_hash": {"string"},
		"burn_view_consensus_hash": {"string"}, "previous_tenure_end": {"string"}, "previous_tenure_blocks": {"number"},
		"cause": {"string"}, "pubkey_hash": {"string"}},
}

func TestV1TransactionShapeMatchesFixtures(t *testing.T) {
	_, base := startSim(t, smallConfig(5))
	cc := loadFixture(t, "mainnet_contract_call.json")
	tt := loadFixture(t, "token_transfer.json")
	common := typesOf(cc)
	delete(common, "contract_call")
	// The token_transfer fixture's common keys are a subset of the real
	// contract_call's (it lacks vm_error) and agree on types.
	for k, v := range typesOf(tt) {
		if k != "token_transfer" && common[k] != v {
			t.Fatalf("fixtures disagree on %s: %s vs %s", k, common[k], v)
		}
	}

	seen := map[string]int{}
	sponsored := 0
	for offset := 0; ; offset += 50 {
		var page struct {
			Total   json.Number      `json:"total"`
			Results []map[string]any `json:"results"`
		}
		_, _, body := get(t, fmt.Sprintf("%s/extended/v1/tx?limit=50&offset=%d", base, offset))
		decodeUseNumber(t, body, &page)
		for _, tx := range page.Results {
			typ, _ := tx["tx_type"].(string)
			seen[typ]++
			pk := payloadKey[typ]
			if pk == "" {
				t.Fatalf("unknown tx_type %q", typ)
			}
			got := typesOf(tx)
			if tx["sponsored"] == true {
				sponsored++
				if got["sponsor_address"] != "string" || got["sponsor_nonce"] != "number" {
					t.Fatalf("sponsored tx without sponsor_address/sponsor_nonce: %v", tx)
				}
			} else if _, ok := tx["sponsor_address"]; ok {
				t.Fatalf("unsponsored tx with sponsor_address: %v", tx)
			}
			delete(got, "sponsor_address")
			delete(got, "sponsor_nonce")
			if got[pk] != "object" {
				t.Fatalf("%s tx has no %s object", typ, pk)
			}
			delete(got, pk)
			for k, want := range common {
				g, ok := got[k]
				switch {
				case !ok:
					t.Fatalf("%s tx lacks key %s", typ, k)
				case k == "vm_error" && (g == "null" || g == "string"):
				case g != want:
					t.Fatalf("%s tx: %s is %s, fixture has %s", typ, k, g, want)
				}
				delete(got, k)
			}
			if len(got) > 0 {
				t.Fatalf("%s tx has keys the fixtures do not: %v", typ, got)
			}
			if ev, _ := tx["events"].([]any); ev == nil || len(ev) != 0 {
				t.Fatalf("events = %v, want []", tx["events"])
			}
			if tx["microblock_sequence"] != json.Number("2147483647") || tx["microblock_hash"] != "0x" {
				t.Fatalf("microblock fields %v %v", tx["microblock_sequence"], tx["microblock_hash"])
			}
			payload := tx[pk].(map[string]any)
			switch pk {
			case "token_transfer":
				if d := compareTypes(typesOf(payload), typesOf(tt["token_transfer"].(map[string]any))); d != "" {
					t.Fatalf("token_transfer payload: %s", d)
				}
			case "contract_call":
				if d := compareTypes(typesOf(payload), typesOf(cc["contract_call"].(map[string]any))); d != "" {
					t.Fatalf("contract_call payload: %s", d)
				}
				wantArg := typesOf(cc["contract_call"].(map[string]any)["function_args"].([]any)[0].(map[string]any))
				for _, a := range payload["function_args"].([]any) {
					if d := compareTypes(typesOf(a.(map[string]any)), wantArg); d != "" {
						t.Fatalf("function_args item: %s", d)
					}
				}
			default:
				want := docPayloadTypes[pk]
				if len(payload) != len(want) {
					t.Fatalf("%s keys %v, want %v", pk, sortedKeys(payload), want)
				}
				for k, v := range payload {
					if !slices.Contains(want[k], jsonType(v)) {
						t.Fatalf("%s.%s is %s, want one of %v", pk, k, jsonType(v), want[k])
					}
				}
			}
		}
		if len(page.Results) < 50 {
			break
		}
	}
	for typ := range payloadKey {
		if seen[typ] == 0 {
			t.Errorf("no %s transaction served", typ)
		}
	}
	if sponsored == 0 {
		t.Error("no sponsored transaction served")
	}
}

func compareTypes(got, want map[string]string) string {
	if len(got) != len(want) {
		return fmt.Sprintf("keys %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("%s is %s, want %s", k, got[k], v)
		}
	}
	return ""
}

// Amounts and fees are decimal strings; values beyond 2^53 (where float64
// stops being exact) must come through unchanged.
func TestAmountsBeyond2p53SurviveRoundTrip(t *testing.T) {
	cfg := Config{Seed: 9, Now: testNow, History: 12 * time.Hour}
	s, base := startSim(t, cfg)
	var big []chain.Tx
	for _, x := range s.All() {
		if x.TokenTransferAmount > 1<<53 {
			big = append(big, x)
		}
	}
	if len(big) == 0 {
		t.Fatal("the chain holds no amount beyond 2^53")
	}
	lossy := 0
	for _, x := range big {
		if uint64(float64(x.TokenTransferAmount)) != x.TokenTransferAmount {
			lossy++
		}
		// Fetch its tenure's window, page by page.
		w := x.BurnBlockTime.Unix()
		found := false
		for offset := 0; !found; offset += 50 {
			_, _, body := get(t, fmt.Sprintf("%s/extended/v1/tx?limit=50&offset=%d&start_time=%d&end_time=%d&type=token_transfer&order=asc",
				base, offset, w, w))
			var page struct {
				Results []map[string]any `json:"results"`
			}
			decodeUseNumber(t, body, &page)
			for _, r := range page.Results {
				if r["tx_id"] == x.TxID {
					found = true
					got := r["token_transfer"].(map[string]any)["amount"]
					if got != strconv.FormatUint(x.TokenTransferAmount, 10) {
						t.Errorf("tx %s amount %v, want %d", x.TxID, got, x.TokenTransferAmount)
					}
				}
			}
			if len(page.Results) < 50 {
				break
			}
		}
		if !found {
			t.Errorf("tx %s not in its tenure's window", x.TxID)
		}
	}
	if lossy == 0 {
		t.Error("no big amount would be rounded by float64: the test proves nothing")
	}
}

func TestV1WindowWalkEqualsGroundTruth(t *testing.T) {
	s, base := startSim(t, Config{Seed: 21, Now: testNow, History: 10 * time.Hour})
	all := s.All()
	// Window edges exactly on two burn block times: both ends inclusive.
	from, to := all[len(all)/4].BurnBlockTime, all[len(all)/2].BurnBlockTime
	want := s.GroundTruth(from, to)
	if len(want) < 200 {
		t.Fatalf("window too small: %d", len(want))
	}
	hasEdge := func(txs []chain.Tx, at time.Time) bool {
		return slices.ContainsFunc(txs, func(x chain.Tx) bool { return x.BurnBlockTime.Equal(at) })
	}
	if !hasEdge(want, from) || !hasEdge(want, to) {
		t.Fatal("ground truth lacks the window's edge tenures")
	}
	q := fmt.Sprintf("start_time=%d&end_time=%d", from.Unix(), to.Unix())

	got, total := walkV1(t, base, q+"&order=asc")
	if d := diffTxs(got, want); d != "" {
		t.Fatalf("asc walk: %s", d)
	}
	if total != len(want) {
		t.Fatalf("total %d, want %d", total, len(want))
	}

	desc, _ := walkV1(t, base, q) // default order is desc
	slices.Reverse(desc)
	if d := diffTxs(desc, want); d != "" {
		t.Fatalf("desc walk reversed: %s", d)
	}

	// Excluding the edge seconds drops the edge tenures.
	inner, _ := walkV1(t, base, fmt.Sprintf("start_time=%d&end_time=%d&order=asc", from.Unix()+1, to.Unix()-1))
	if hasEdge(inner, from) || hasEdge(inner, to) || len(inner) >= len(want) {
		t.Fatal("start_time/end_time are not inclusive bounds")
	}

	// sort_by=burn_block_time: same set, ordered by (burn time, height, index).
	byBurn, _ := walkV1(t, base, q+"&order=asc&sort_by=burn_block_time")
	if len(byBurn) != len(want) {
		t.Fatalf("sort_by=burn_block_time gave %d rows, want %d", len(byBurn), len(want))
	}
	if !slices.IsSortedFunc(byBurn, func(a, b chain.Tx) int {
		if c := a.BurnBlockTime.Compare(b.BurnBlockTime); c != 0 {
			return c
		}
		if a.BlockHeight != b.BlockHeight {
			return int(a.BlockHeight - b.BlockHeight)
		}
		return int(a.TxIndex - b.TxIndex)
	}) {
		t.Fatal("sort_by=burn_block_time order is wrong")
	}

	// offset/limit pick exactly the slice.
	var page apiTxPage
	getJSON(t, fmt.Sprintf("%s/extended/v1/tx?%s&order=asc&offset=7&limit=5", base, q), &page)
	for i, r := range page.Results {
		if r.TxID != want[7+i].TxID {
			t.Fatalf("offset 7 limit 5: result %d is %s, want %s", i, r.TxID, want[7+i].TxID)
		}
	}
	// start_time=0 is ignored, like the API's truthiness test.
	getJSON(t, fmt.Sprintf("%s/extended/v1/tx?start_time=0&end_time=%d&limit=1", base, to.Unix()), &page)
	var before int
	for _, x := range all {
		if !x.BurnBlockTime.After(to) {
			before++
		}
	}
	if page.Total != before {
		t.Fatalf("start_time=0: total %d, want %d", page.Total, before)
	}
}

func TestV1ParamsAndEnvelope(t *testing.T) {
	s, base := startSim(t, smallConfig(8))
	all := s.All()
	var page apiTxPage
	h := getJSON(t, base+"/extended/v1/tx", &page)
	if page.Limit != 20 || len(page.Results) != 20 || page.Total != len(all) {
		t.Fatalf("default page: limit %d, %d results, total %d (chain has %d)", page.Limit, len(page.Results), page.Total, len(all))
	}
	if page.Results[0].TxID != all[len(all)-1].TxID {
		t.Fatal("default order is not newest first")
	}
	if h.Get("Warning") != `299 - "Deprecated: use GET /extended/v3/transactions instead"` {
		t.Fatalf("Warning header %q", h.Get("Warning"))
	}
	getJSON(t, base+"/extended/v1/tx?limit=0", &page)
	if page.Limit != 20 {
		t.Fatalf("limit=0 gave limit %d, want the default 20", page.Limit)
	}
	getJSON(t, base+"/extended/v1/tx?limit=50&offset=1000000", &page)
	if len(page.Results) != 0 || page.Total != len(all) {
		t.Fatalf("offset past the end: %d results, total %d", len(page.Results), page.Total)
	}

	// Filters: type (comma list), from_address, contract_id.
	count := func(keep func(chain.Tx) bool) int {
		n := 0
		for _, x := range all {
			if keep(x) {
				n++
			}
		}
		return n
	}
	getJSON(t, base+"/extended/v1/tx?limit=1&type=coinbase,tenure_change", &page)
	if want := count(func(x chain.Tx) bool { return x.TxType == "coinbase" || x.TxType == "tenure_change" }); page.Total != want {
		t.Fatalf("type filter total %d, want %d", page.Total, want)
	}
	sender := all[len(all)/2].SenderAddress
	rows, _ := walkV1(t, base, "order=asc&from_address="+sender)
	if want := count(func(x chain.Tx) bool { return x.SenderAddress == sender }); len(rows) != want {
		t.Fatalf("from_address gave %d rows, want %d", len(rows), want)
	}
	for i, x := range rows {
		if x.Nonce != int64(i) {
			t.Fatalf("from_address rows in asc order have nonce %d at %d", x.Nonce, i)
		}
	}

	for _, c := range []struct{ query, msg string }{
		{"limit=51", "'limit' must be equal to or less than 50"},
		{"limit=abc", "must be integers"},
		{"offset=-1", "must be integers"},
		{"order=up", "order"},
		{"sort_by=nonce", "sort_by"},
		{"type=mint", "type"},
		{"start_time=yesterday", "start_time"},
	} {
		status, _, body := get(t, base+"/extended/v1/tx?"+c.query)
		if status != http.StatusBadRequest || !strings.Contains(string(body), c.msg) {
			t.Errorf("?%s: %d %s, want 400 mentioning %q", c.query, status, body, c.msg)
		}
	}
}

// apiSummary is the v3 TransactionSummary, decoded like a client would.
type apiSummary struct {
	TxID   string `json:"tx_id"`
	Sender struct {
		Address string `json:"address"`
		Nonce   int64  `json:"nonce"`
	} `json:"sender"`
	Sponsor *struct {
		Address string `json:"address"`
		Nonce   int64  `json:"nonce"`
	} `json:"sponsor"`
	FeeRate string `json:"fee_rate"`
	Block   struct {
		Height    int64  `json:"height"`
		Hash      string `json:"hash"`
		IndexHash string `json:"index_hash"`
		Time      int64  `json:"time"`
		TxIndex   int64  `json:"tx_index"`
	} `json:"block"`
	BitcoinBlock struct {
		Height int64 `json:"height"`
		Time   int64 `json:"time"`
	} `json:"bitcoin_block"`
	Status        string `json:"status"`
	Type          string `json:"type"`
	TokenTransfer *struct {
		Recipient string `json:"recipient"`
		Amount    string `json:"amount"`
		Memo      *struct {
			Hex string `json:"hex"`
		} `json:"memo"`
	} `json:"token_transfer"`
	ContractCall *struct {
		ContractID   string `json:"contract_id"`
		FunctionName string `json:"function_name"`
	} `json:"contract_call"`
	SmartContract *struct {
		ContractID string `json:"contract_id"`
	} `json:"smart_contract"`
	Coinbase     map[string]any `json:"coinbase"`
	TenureChange map[string]any `json:"tenure_change"`
}

func (a apiSummary) chainTx(t testing.TB) chain.Tx {
	t.Helper()
	fee, err := strconv.ParseUint(a.FeeRate, 10, 64)
	if err != nil {
		t.Fatalf("fee_rate %q: %v", a.FeeRate, err)
	}
	c := chain.Tx{
		TxID: a.TxID, TxType: a.Type, TxStatus: a.Status,
		BlockHeight: a.Block.Height, BlockHash: a.Block.Hash, BlockTime: time.Unix(a.Block.Time, 0).UTC(),
		BurnBlockHeight: a.BitcoinBlock.Height, BurnBlockTime: time.Unix(a.BitcoinBlock.Time, 0).UTC(),
		TxIndex: a.Block.TxIndex, SenderAddress: a.Sender.Address, Nonce: a.Sender.Nonce, FeeRate: fee,
		Canonical: true,
	}
	if a.Sponsor != nil {
		c.Sponsored, c.SponsorAddress = true, a.Sponsor.Address
	}
	if p := a.TokenTransfer; p != nil {
		amount, err := strconv.ParseUint(p.Amount, 10, 64)
		if err != nil || p.Memo == nil {
			t.Fatalf("token_transfer %+v: %v", p, err)
		}
		c.TokenTransferRecipientAddress, c.TokenTransferAmount, c.TokenTransferMemo = p.Recipient, amount, p.Memo.Hex
	}
	if p := a.ContractCall; p != nil {
		c.ContractCallContractID, c.ContractCallFunctionName = p.ContractID, p.FunctionName
	}
	if p := a.SmartContract; p != nil {
		c.SmartContractContractID = p.ContractID
	}
	if (a.Type == "coinbase") != (a.Coinbase != nil) || (a.Type == "tenure_change") != (a.TenureChange != nil) {
		t.Fatalf("tx %s of type %s: coinbase %v tenure_change %v", a.TxID, a.Type, a.Coinbase, a.TenureChange)
	}
	return c
}

type apiV3Page struct {
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Cursor struct {
		Next     *string `json:"next"`
		Previous *string `json:"previous"`
		Current  *string `json:"current"`
	} `json:"cursor"`
	Results []apiSummary `json:"results"`
}

func TestV3CursorWalkReturnsEveryTxOnce(t *testing.T) {
	s, base := startSim(t, smallConfig(13))
	all := s.All()
	var got []chain.Tx
	next := ""
	pages := 0
	for {
		u := base + "/extended/v3/transactions?limit=50"
		if next != "" {
			u += "&cursor=" + url.QueryEscape(next)
		}
		var page apiV3Page
		getJSON(t, u, &page)
		pages++
		if page.Total != len(all) || page.Limit != 50 {
			t.Fatalf("total %d limit %d, want %d 50", page.Total, page.Limit, len(all))
		}
		for _, r := range page.Results {
			got = append(got, r.chainTx(t))
		}
		if page.Cursor.Next == nil {
			break
		}
		next = *page.Cursor.Next
	}
	slices.Reverse(got)
	if d := diffTxs(got, all); d != "" {
		t.Fatalf("v3 walk (%d pages) vs chain: %s", pages, d)
	}
}

func TestV3CursorSemantics(t *testing.T) {
	s, base := startSim(t, smallConfig(14))
	all := s.All()
	cursorOf := func(x chain.Tx) string { return fmt.Sprintf("%d:2147483647:%d", x.BlockHeight, x.TxIndex) }

	// H:0:0 starts at the top of block H.
	mid := all[len(all)/2]
	var top chain.Tx
	for _, x := range all {
		if x.BlockHeight == mid.BlockHeight {
			top = x
		}
	}
	var page apiV3Page
	getJSON(t, fmt.Sprintf("%s/extended/v3/transactions?limit=5&cursor=%d:0:0", base, mid.BlockHeight), &page)
	if page.Results[0].TxID != top.TxID || *page.Cursor.Current != cursorOf(top) {
		t.Fatalf("cursor %d:0:0 starts at %s (current %s), want the top of the block %s", mid.BlockHeight,
			page.Results[0].TxID, *page.Cursor.Current, top.TxID)
	}

	// An exact cursor starts at that tx; next is the (limit+1)th older one,
	// previous the newest of the page before.
	i := len(all) / 3
	getJSON(t, fmt.Sprintf("%s/extended/v3/transactions?limit=10&cursor=%s", base, cursorOf(all[i])), &page)
	for k, r := range page.Results {
		if r.TxID != all[i-k].TxID {
			t.Fatalf("result %d is %s, want %s", k, r.TxID, all[i-k].TxID)
		}
	}
	if *page.Cursor.Next != cursorOf(all[i-10]) || *page.Cursor.Previous != cursorOf(all[i+10]) {
		t.Fatalf("next %s previous %s, want %s %s", *page.Cursor.Next, *page.Cursor.Previous, cursorOf(all[i-10]), cursorOf(all[i+10]))
	}
	// Following previous gives the newer page that ends right above this one.
	var newer apiV3Page
	getJSON(t, base+"/extended/v3/transactions?limit=10&cursor="+*page.Cursor.Previous, &newer)
	if last := newer.Results[len(newer.Results)-1]; last.TxID != all[i+1].TxID {
		t.Fatalf("previous page ends at %s, want %s", last.TxID, all[i+1].TxID)
	}
	// A cursor whose row is gone (here: an index past the block's last
	// row) answers 200 and continues below it; only cursor.current tells.
	gone := fmt.Sprintf("%d:2147483647:%d", top.BlockHeight, top.TxIndex+7)
	getJSON(t, base+"/extended/v3/transactions?limit=3&cursor="+gone, &page)
	if page.Cursor.Current == nil || *page.Cursor.Current == gone || *page.Cursor.Current != cursorOf(top) || page.Results[0].TxID != top.TxID {
		t.Fatalf("cursor %s: current %v first %s, want current %s and the block's top row", gone, page.Cursor.Current, page.Results[0].TxID, cursorOf(top))
	}
	// Nothing at or below the cursor: 200, no results, total 0, no cursors.
	getJSON(t, base+"/extended/v3/transactions?cursor=1:0:0", &page)
	if page.Total != 0 || len(page.Results) != 0 || page.Cursor.Current != nil || page.Cursor.Next != nil {
		t.Fatalf("below the chain: %+v", page)
	}

	// The tip page has no previous.
	getJSON(t, base+"/extended/v3/transactions?limit=3", &page)
	if page.Cursor.Previous != nil || page.Results[0].TxID != all[len(all)-1].TxID {
		t.Fatal("tip page: want no previous cursor and the newest tx first")
	}

	for _, c := range []struct {
		query  string
		status int
	}{
		{"cursor=abc", 400},
		{"cursor=1:2", 400},
		{"cursor=99999999999999999999:0:0", 400},
		{"limit=51", 400},
		{"limit=0", 400},
		{"cursor=1:0:0", 200}, // below the first transaction: empty, never 404
	} {
		if status, _, body := get(t, base+"/extended/v3/transactions?"+c.query); status != c.status {
			t.Errorf("?%s: %d %s, want %d", c.query, status, body, c.status)
		}
	}
}

func TestBlocksEndpoints(t *testing.T) {
	s, base := startSim(t, smallConfig(15))
	all := s.All()
	tip := s.Tip()

	type nb struct {
		Height          int64  `json:"height"`
		Hash            string `json:"hash"`
		IndexBlockHash  string `json:"index_block_hash"`
		BlockTime       int64  `json:"block_time"`
		BurnBlockTime   int64  `json:"burn_block_time"`
		BurnBlockHeight int64  `json:"burn_block_height"`
		TxCount         int    `json:"tx_count"`
	}
	var list struct {
		Limit, Offset, Total int
		PrevCursor           *string `json:"prev_cursor"`
		Results              []nb    `json:"results"`
	}
	getJSON(t, base+"/extended/v2/blocks?limit=30", &list)
	if list.Total != int(tip.Blocks) || list.Results[0].Height != tip.Height || list.Results[0].Hash != tip.Hash {
		t.Fatalf("blocks list: total %d first %d, want %d %d", list.Total, list.Results[0].Height, tip.Blocks, tip.Height)
	}
	// Walking prev_cursor back gives contiguous heights; tx_count adds up.
	perBlock := map[int64]int{}
	for _, x := range all {
		perBlock[x.BlockHeight]++
	}
	height := tip.Height
	for range 5 {
		for _, b := range list.Results {
			if b.Height != height || b.TxCount != perBlock[b.Height] || b.TxCount == 0 {
				t.Fatalf("block %d (want %d): tx_count %d, chain has %d", b.Height, height, b.TxCount, perBlock[b.Height])
			}
			height--
		}
		getJSON(t, base+"/extended/v2/blocks?limit=30&cursor="+*list.PrevCursor, &list)
	}
	if status, _, _ := get(t, base+"/extended/v2/blocks?limit=31"); status != 400 {
		t.Fatalf("blocks limit=31: %d, want 400", status)
	}

	x := all[len(all)/2]
	var one nb
	getJSON(t, fmt.Sprintf("%s/extended/v2/blocks/%d", base, x.BlockHeight), &one)
	if one.Hash != x.BlockHash || one.BurnBlockTime != x.BurnBlockTime.Unix() || one.BurnBlockHeight != x.BurnBlockHeight {
		t.Fatalf("block by height: %+v for tx %+v", one, x)
	}
	getJSON(t, base+"/extended/v2/blocks/"+x.BlockHash, &one)
	if one.Height != x.BlockHeight {
		t.Fatalf("block by hash gave height %d, want %d", one.Height, x.BlockHeight)
	}
	idx := one.IndexBlockHash
	getJSON(t, base+"/extended/v2/blocks/"+strings.TrimPrefix(idx, "0x"), &one)
	if one.Height != x.BlockHeight || one.Hash != x.BlockHash {
		t.Fatalf("block by index hash gave height %d, want %d", one.Height, x.BlockHeight)
	}
	flipped := x.BlockHash[:65] + "0"
	if flipped == x.BlockHash {
		flipped = x.BlockHash[:65] + "1"
	}
	for _, bad := range []string{"0x" + strings.Repeat("0", 64), flipped, "nonsense", "99999999"} {
		if status, _, _ := get(t, base+"/extended/v2/blocks/"+bad); status != 404 {
			t.Fatalf("block %s: %d, want 404", bad, status)
		}
	}
	if status, _, _ := get(t, base+"/extended/v2/blocks?cursor=0x"+strings.Repeat("1", 64)); status != 404 {
		t.Fatalf("unknown blocks cursor: %d, want 404", status)
	}

	// by-block-time: the most recent block at or before t.
	getJSON(t, fmt.Sprintf("%s/extended/v2/blocks/by-block-time/%d", base, x.BlockTime.Unix()), &one)
	if one.BlockTime > x.BlockTime.Unix() || one.Height < x.BlockHeight {
		t.Fatalf("by-block-time %d gave block %d at %d", x.BlockTime.Unix(), one.Height, one.BlockTime)
	}
	var after nb
	getJSON(t, fmt.Sprintf("%s/extended/v2/blocks/%d", base, one.Height+1), &after)
	if after.BlockTime <= x.BlockTime.Unix() {
		t.Fatalf("by-block-time did not pick the most recent block: %d is also at or before t", after.Height)
	}
	if status, _, body := get(t, fmt.Sprintf("%s/extended/v2/blocks/by-block-time/%d", base, all[0].BlockTime.Unix()-1)); status != 404 ||
		!strings.Contains(string(body), `"error":"Not Found"`) || !strings.Contains(string(body), "No block found at or before the given timestamp") {
		t.Fatalf("by-block-time before the first block: %d %s, want the API's 404", status, body)
	}

	// Block transactions: ascending, total = tx_count, 404 past the end.
	var bt apiTxPage
	getJSON(t, fmt.Sprintf("%s/extended/v2/blocks/%d/transactions?limit=50", base, x.BlockHeight), &bt)
	if bt.Total != perBlock[x.BlockHeight] || bt.Results[0].TxIndex != 0 {
		t.Fatalf("block transactions: total %d first index %d", bt.Total, bt.Results[0].TxIndex)
	}
	if status, _, _ := get(t, fmt.Sprintf("%s/extended/v2/blocks/%d/transactions?offset=%d", base, x.BlockHeight, bt.Total)); status != 404 {
		t.Fatalf("block transactions past the end: %d, want 404 (the API's quirk)", status)
	}

	// Burn blocks: newest first, tx totals and Stacks block lists add up.
	var burns struct {
		Total   int `json:"total"`
		Results []struct {
			BurnBlockHeight int64    `json:"burn_block_height"`
			BurnBlockTime   int64    `json:"burn_block_time"`
			StacksBlocks    []string `json:"stacks_blocks"`
			TotalTxCount    int      `json:"total_tx_count"`
		} `json:"results"`
	}
	getJSON(t, base+"/extended/v2/burn-blocks?limit=30", &burns)
	if burns.Results[0].BurnBlockHeight != tip.BurnHeight {
		t.Fatalf("newest burn block %d, tip burn height %d", burns.Results[0].BurnBlockHeight, tip.BurnHeight)
	}
	perBurn := map[int64]int{}
	blocksPerBurn := map[int64]map[int64]bool{}
	for _, x := range all {
		perBurn[x.BurnBlockHeight]++
		if blocksPerBurn[x.BurnBlockHeight] == nil {
			blocksPerBurn[x.BurnBlockHeight] = map[int64]bool{}
		}
		blocksPerBurn[x.BurnBlockHeight][x.BlockHeight] = true
	}
	for _, b := range burns.Results {
		if b.TotalTxCount != perBurn[b.BurnBlockHeight] || len(b.StacksBlocks) != len(blocksPerBurn[b.BurnBlockHeight]) {
			t.Fatalf("burn block %d: %d txs in %d blocks, chain has %d in %d", b.BurnBlockHeight, b.TotalTxCount,
				len(b.StacksBlocks), perBurn[b.BurnBlockHeight], len(blocksPerBurn[b.BurnBlockHeight]))
		}
	}
	if status, _, _ := get(t, base+"/extended/v2/burn-blocks?limit=31"); status != 400 {
		t.Fatalf("burn-blocks limit=31: %d, want 400", status)
	}
}

func TestStatusAndUnknownRoutes(t *testing.T) {
	s, base := startSim(t, smallConfig(16))
	tip := s.Tip()
	for _, path := range []string{"/extended", "/extended/v1/status"} {
		var st struct {
			ServerVersion string `json:"server_version"`
			Status        string `json:"status"`
			ChainTip      struct {
				BlockHeight     int64  `json:"block_height"`
				BlockHash       string `json:"block_hash"`
				IndexBlockHash  string `json:"index_block_hash"`
				BurnBlockHeight int64  `json:"burn_block_height"`
			} `json:"chain_tip"`
		}
		h := getJSON(t, base+path, &st)
		if st.Status != "ready" || st.ChainTip.BlockHeight != tip.Height || st.ChainTip.BlockHash != tip.Hash ||
			st.ChainTip.IndexBlockHash != tip.IndexHash || st.ChainTip.BurnBlockHeight != tip.BurnHeight ||
			!strings.HasPrefix(st.ServerVersion, "stacks-blockchain-api ") {
			t.Fatalf("%s: %+v, tip %+v", path, st, tip)
		}
		if h.Get("X-API-Version") == "" {
			t.Fatalf("%s: no X-API-Version", path)
		}
	}
	status, h, body := get(t, base+"/extended/v1/nope")
	var m map[string]any
	if status != 404 || json.Unmarshal(body, &m) != nil || h.Get("X-API-Version") == "" {
		t.Fatalf("unknown route: %d %s", status, body)
	}
}
