package hirosim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// testNow is a fixed chain tip time so tests are reproducible.
var testNow = time.Date(2025, 7, 31, 16, 0, 0, 0, time.UTC)

// smallConfig is a few hours of chain: fast to build, rich enough to hold
// every transaction type.
func smallConfig(seed int64) Config {
	return Config{Seed: seed, Now: testNow, History: 4 * time.Hour, TxPerBlock: 1.5, Hostile: true}
}

// startSim builds and serves a simulator for the test's lifetime.
func startSim(t testing.TB, cfg Config) (*Sim, string) {
	t.Helper()
	s := New(cfg)
	url := s.Start()
	t.Cleanup(s.Close)
	return s, url
}

// fakeClock is a settable Config.Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// get fetches url and returns status, headers and body.
func get(t testing.TB, url string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request %s: %v", url, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

// getJSON fetches url, requires 200 and decodes into out with UseNumber.
func getJSON(t testing.TB, url string, out any) http.Header {
	t.Helper()
	status, h, body := get(t, url)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, status, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
	return h
}

// apiTx is the subset of a v1 Transaction the product stores. It is this
// package's stand-in for the Hiro client's decoder.
type apiTx struct {
	TxID            string      `json:"tx_id"`
	TxType          string      `json:"tx_type"`
	TxStatus        string      `json:"tx_status"`
	BlockHeight     int64       `json:"block_height"`
	BlockHash       string      `json:"block_hash"`
	BlockTime       int64       `json:"block_time"`
	BurnBlockHeight int64       `json:"burn_block_height"`
	BurnBlockTime   int64       `json:"burn_block_time"`
	TxIndex         int64       `json:"tx_index"`
	SenderAddress   string      `json:"sender_address"`
	Nonce           json.Number `json:"nonce"`
	FeeRate         string      `json:"fee_rate"`
	Sponsored       bool        `json:"sponsored"`
	SponsorAddress  string      `json:"sponsor_address"`
	Canonical       bool        `json:"canonical"`
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

func (a apiTx) chainTx(t testing.TB) chain.Tx {
	t.Helper()
	fee, err := strconv.ParseUint(a.FeeRate, 10, 64)
	if err != nil {
		t.Fatalf("tx %s: fee_rate %q: %v", a.TxID, a.FeeRate, err)
	}
	nonce, err := a.Nonce.Int64()
	if err != nil {
		t.Fatalf("tx %s: nonce %q: %v", a.TxID, a.Nonce, err)
	}
	c := chain.Tx{
		TxID: a.TxID, TxType: a.TxType, TxStatus: a.TxStatus,
		BlockHeight: a.BlockHeight, BlockHash: a.BlockHash, BlockTime: time.Unix(a.BlockTime, 0).UTC(),
		BurnBlockHeight: a.BurnBlockHeight, BurnBlockTime: time.Unix(a.BurnBlockTime, 0).UTC(),
		TxIndex: a.TxIndex, SenderAddress: a.SenderAddress, Nonce: nonce, FeeRate: fee,
		Sponsored: a.Sponsored, SponsorAddress: a.SponsorAddress, Canonical: a.Canonical,
	}
	if p := a.TokenTransfer; p != nil {
		amount, err := strconv.ParseUint(p.Amount, 10, 64)
		if err != nil {
			t.Fatalf("tx %s: amount %q: %v", a.TxID, p.Amount, err)
		}
		c.TokenTransferRecipientAddress, c.TokenTransferAmount, c.TokenTransferMemo = p.RecipientAddress, amount, p.Memo
	}
	if p := a.ContractCall; p != nil {
		c.ContractCallContractID, c.ContractCallFunctionName = p.ContractID, p.FunctionName
	}
	if p := a.SmartContract; p != nil {
		c.SmartContractContractID = p.ContractID
	}
	return c
}

type apiTxPage struct {
	Limit   int     `json:"limit"`
	Offset  int     `json:"offset"`
	Total   int     `json:"total"`
	Results []apiTx `json:"results"`
}

// walkV1 pages /extended/v1/tx with the query until a short page, checking
// that total stays the same, and returns the rows.
func walkV1(t testing.TB, base, query string) ([]chain.Tx, int) {
	t.Helper()
	var out []chain.Tx
	total := -1
	for offset := 0; ; offset += 50 {
		var page apiTxPage
		getJSON(t, fmt.Sprintf("%s/extended/v1/tx?limit=50&offset=%d&%s", base, offset, query), &page)
		if total >= 0 && page.Total != total {
			t.Fatalf("total changed from %d to %d at offset %d", total, page.Total, offset)
		}
		total = page.Total
		if page.Limit != 50 || page.Offset != offset {
			t.Fatalf("envelope limit/offset = %d/%d, want 50/%d", page.Limit, page.Offset, offset)
		}
		for _, r := range page.Results {
			out = append(out, r.chainTx(t))
		}
		if len(page.Results) < 50 {
			return out, total
		}
	}
}

// diffTxs reports the first difference between two row lists.
func diffTxs(got, want []chain.Tx) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	return ""
}
