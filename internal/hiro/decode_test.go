package hiro

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fixtures are real API objects; the decoder must read them exactly.
func TestDecodeTxFixtures(t *testing.T) {
	dir := "testdata"
	tests := []struct {
		file  string
		check func(t *testing.T, raw []byte)
	}{
		{"mainnet_contract_call.json", func(t *testing.T, raw []byte) {
			tx, canonical, err := DecodeTx(raw)
			if err != nil || !canonical {
				t.Fatalf("decode: %v canonical=%v", err, canonical)
			}
			if tx.TxID != "0xa3a507295688f791c5e4e78ba2d293bd8c415f1232357f82f539410c5ae20dd1" || tx.TxType != "contract_call" ||
				tx.FeeRate != 150000 || tx.Nonce != 613 || tx.BlockHeight != 2440447 || tx.BurnBlockHeight != 907977 ||
				tx.ContractCallContractID != "SP001SFSMC2ZY76PD4M68P3WGX154XCH7NE3TYMX.pox4-pools" ||
				tx.ContractCallFunctionName != "delegate-stx" || tx.TxIndex != 1 || tx.SenderAddress != "SP3T156FGQ9J6H9A6AZY2BA6SJJCCHPZB0Z97STDF" {
				t.Fatalf("decoded %+v", tx)
			}
			if !tx.BlockTime.Equal(time.Unix(1753980719, 0)) || !tx.BurnBlockTime.Equal(time.Unix(1753979615, 0)) {
				t.Fatalf("times %v %v", tx.BlockTime, tx.BurnBlockTime)
			}
		}},
		{"token_transfer.json", func(t *testing.T, raw []byte) {
			tx, _, err := DecodeTx(raw)
			if err != nil {
				t.Fatal(err)
			}
			if tx.TokenTransferAmount != 1 || tx.TokenTransferRecipientAddress != "SP3SBQ9PZEMBNBAWTR7FRPE3XK0EFW9JWVX4G80S2" ||
				tx.FeeRate != 180 || tx.TxStatus != "abort_by_post_condition" || tx.Sponsored {
				t.Fatalf("decoded %+v", tx)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, raw)
		})
	}
}

func TestDecodeTxPage(t *testing.T) {
	big := `{"limit":50,"offset":0,"total":2,"results":[
 {"tx_id":"` + txA + `","tx_type":"token_transfer","tx_status":"success","nonce":0,"fee_rate":"18446744073709551615","sender_address":"` + addrA + `","sponsored":true,"sponsor_address":"` + addrB + `",
  "block_hash":"` + blockB + `","block_height":5,"block_time":1753980719,"burn_block_height":9,"burn_block_time":1753979615,"tx_index":0,"canonical":true,"microblock_canonical":true,
  "token_transfer":{"recipient_address":"` + addrB + `","amount":"9007199254740993","memo":"0x00"}},
 {"tx_id":"` + txB + `","tx_type":"coinbase","tx_status":"success","nonce":1,"fee_rate":"0","sender_address":"` + addrA + `","sponsored":false,
  "block_hash":"` + blockB + `","block_height":5,"block_time":1753980719,"burn_block_height":9,"burn_block_time":1753979615,"tx_index":1,"canonical":false}]}`
	p, err := DecodeTxPage([]byte(big))
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 2 || len(p.Txs) != 1 || p.Skipped != 1 {
		t.Fatalf("page %+v", p)
	}
	tx := p.Txs[0]
	if tx.FeeRate != 18446744073709551615 || tx.TokenTransferAmount != 9007199254740993 || tx.SponsorAddress != addrB {
		t.Fatalf("amounts not exact: %+v", tx)
	}

	bad := []struct{ name, body string }{
		{"truncated", big[:len(big)/2]},
		{"no total", `{"limit":50,"offset":0,"results":[]}`},
		{"float fee", `{"limit":50,"offset":0,"total":1,"results":[{"tx_id":"0x1","tx_type":"coinbase","tx_status":"success","nonce":0,"fee_rate":"1.5","sender_address":"SPA","block_height":1,"burn_block_height":1,"burn_block_time":1,"tx_index":0,"canonical":true}]}`},
		{"missing burn time", `{"limit":50,"offset":0,"total":1,"results":[{"tx_id":"0x1","tx_type":"coinbase","tx_status":"success","nonce":0,"fee_rate":"1","sender_address":"SPA","block_height":1,"burn_block_height":1,"tx_index":0,"canonical":true}]}`},
		{"transfer without payload", `{"limit":50,"offset":0,"total":1,"results":[{"tx_id":"0x1","tx_type":"token_transfer","tx_status":"success","nonce":0,"fee_rate":"1","sender_address":"SPA","block_height":1,"burn_block_height":1,"burn_block_time":1,"tx_index":0,"canonical":true}]}`},
		{"html error page", `<html>502 Bad Gateway</html>`},
		{"a total no window can hold", `{"limit":50,"offset":0,"total":1000000000000,"results":[]}`},
	}
	if _, err := DecodeTxPage([]byte(`{"limit":50,"offset":0,"total":1000000000,"results":[]}`)); err != nil {
		t.Fatalf("a total of MaxTotal: %v", err)
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			if _, err := DecodeTxPage([]byte(b.body)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
		})
	}
}
