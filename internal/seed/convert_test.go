package seed

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
)

// baseRow is a successful anchored token transfer; cases change fields.
func baseRow() Row {
	return Row{
		TxID:                          []byte{0xab, 0xcd, 0x01},
		TxIndex:                       3,
		BlockHash:                     []byte{0x00, 0xff},
		BlockHeight:                   3_000_001,
		BlockTime:                     1_700_000_100,
		BurnBlockHeight:               900_001,
		BurnBlockTime:                 1_700_000_000,
		TypeID:                        0,
		Status:                        1,
		Nonce:                         42,
		FeeRate:                       180,
		SenderAddress:                 "SP000000000000000000002Q6VF78",
		SponsorNull:                   true,
		Canonical:                     true,
		MicroblockCanonical:           true,
		TokenTransferRecipientAddress: "SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE",
		TokenTransferAmount:           1_000_000,
		TokenTransferMemo:             []byte("hi"),
	}
}

func baseTx() chain.Tx {
	return chain.Tx{
		TxID:                          "0xabcd01",
		TxType:                        "token_transfer",
		TxStatus:                      "success",
		BlockHeight:                   3_000_001,
		BlockHash:                     "0x00ff",
		BlockTime:                     time.Unix(1_700_000_100, 0).UTC(),
		BurnBlockHeight:               900_001,
		BurnBlockTime:                 time.Unix(1_700_000_000, 0).UTC(),
		TxIndex:                       3,
		SenderAddress:                 "SP000000000000000000002Q6VF78",
		Nonce:                         42,
		FeeRate:                       180,
		TokenTransferRecipientAddress: "SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE",
		TokenTransferAmount:           1_000_000,
		TokenTransferMemo:             "0x6869",
		Canonical:                     true,
	}
}

func TestRowTx(t *testing.T) {
	t.Parallel()
	nonTransfer := func(r *Row) {
		r.TokenTransferRecipientAddress, r.TokenTransferAmount, r.TokenTransferMemo = "", 0, nil
		r.TokenTransferAmountNull = true
	}
	plain := func(w *chain.Tx) {
		w.TokenTransferRecipientAddress, w.TokenTransferAmount, w.TokenTransferMemo = "", 0, ""
	}
	cases := []struct {
		name string
		row  func(*Row)
		want func(*chain.Tx)
		err  string // substring of the error; "" for success
	}{
		{name: "token transfer", row: func(*Row) {}, want: func(*chain.Tx) {}},
		{name: "smart contract (type 1)", row: func(r *Row) {
			r.TypeID = 1
			nonTransfer(r)
			r.SmartContractContractID = "SP1.c"
			r.ContractCallContractID = "ignored"
		}, want: func(w *chain.Tx) { w.TxType = "smart_contract"; plain(w); w.SmartContractContractID = "SP1.c" }},
		{name: "versioned smart contract (type 6)", row: func(r *Row) {
			r.TypeID = 6
			nonTransfer(r)
			r.SmartContractContractID = "SP1.v"
		}, want: func(w *chain.Tx) { w.TxType = "smart_contract"; plain(w); w.SmartContractContractID = "SP1.v" }},
		{name: "contract call", row: func(r *Row) {
			r.TypeID = 2
			nonTransfer(r)
			r.ContractCallContractID, r.ContractCallFunctionName = "SP1.pool", "swap"
			r.SmartContractContractID = "ignored"
		}, want: func(w *chain.Tx) {
			w.TxType = "contract_call"
			plain(w)
			w.ContractCallContractID, w.ContractCallFunctionName = "SP1.pool", "swap"
		}},
		{name: "poison microblock", row: func(r *Row) { r.TypeID = 3; nonTransfer(r) },
			want: func(w *chain.Tx) { w.TxType = "poison_microblock"; plain(w) }},
		{name: "coinbase (4)", row: func(r *Row) { r.TypeID = 4; nonTransfer(r) },
			want: func(w *chain.Tx) { w.TxType = "coinbase"; plain(w) }},
		{name: "coinbase to alt recipient (5)", row: func(r *Row) { r.TypeID = 5; nonTransfer(r) },
			want: func(w *chain.Tx) { w.TxType = "coinbase"; plain(w) }},
		{name: "tenure change", row: func(r *Row) { r.TypeID = 7; nonTransfer(r) },
			want: func(w *chain.Tx) { w.TxType = "tenure_change"; plain(w) }},
		{name: "nakamoto coinbase (8)", row: func(r *Row) { r.TypeID = 8; nonTransfer(r) },
			want: func(w *chain.Tx) { w.TxType = "coinbase"; plain(w) }},
		{name: "unknown type", row: func(r *Row) { r.TypeID = 9 }, err: "unknown type code 9"},
		{name: "negative type", row: func(r *Row) { r.TypeID = -1 }, err: "unknown type code -1"},
		{name: "abort by response", row: func(r *Row) { r.Status = -1 }, want: func(w *chain.Tx) { w.TxStatus = "abort_by_response" }},
		{name: "abort by post condition", row: func(r *Row) { r.Status = -2 }, want: func(w *chain.Tx) { w.TxStatus = "abort_by_post_condition" }},
		{name: "problematic skipped", row: func(r *Row) { r.Status = -3 }, want: func(w *chain.Tx) { w.TxStatus = "problematic_skipped" }},
		{name: "pending is mempool only", row: func(r *Row) { r.Status = 0 }, err: "status code 0 (pending) belongs to the mempool"},
		{name: "dropped is mempool only", row: func(r *Row) { r.Status = -10 }, err: "dropped_replace_by_fee"},
		{name: "unknown status", row: func(r *Row) { r.Status = 2 }, err: "unknown status code 2"},
		{name: "block_time 0 falls back to burn time", row: func(r *Row) { r.BlockTime = 0 },
			want: func(w *chain.Tx) { w.BlockTime = time.Unix(1_700_000_000, 0).UTC() }},
		{name: "amounts beyond 2^53 stay exact", row: func(r *Row) {
			r.FeeRate, r.TokenTransferAmount = 1<<53+1, 9_223_372_036_854_775_807
		}, want: func(w *chain.Tx) { w.FeeRate, w.TokenTransferAmount = 1<<53+1, 9_223_372_036_854_775_807 }},
		{name: "sponsored", row: func(r *Row) { r.Sponsored, r.SponsorAddress, r.SponsorNull = true, "SP2SPONSOR", false },
			want: func(w *chain.Tx) { w.Sponsored, w.SponsorAddress = true, "SP2SPONSOR" }},
		{name: "empty block hash and memo are 0x", row: func(r *Row) { r.BlockHash, r.TokenTransferMemo = []byte{}, []byte{} },
			want: func(w *chain.Tx) { w.BlockHash, w.TokenTransferMemo = "0x", "0x" }},
		{name: "NULL memo decodes as empty", row: func(r *Row) { r.TokenTransferMemo = nil },
			want: func(w *chain.Tx) { w.TokenTransferMemo = "" }},
		{name: "NULL amount on a transfer", row: func(r *Row) { r.TokenTransferAmountNull = true }, err: "token_transfer_amount: NULL"},
		{name: "negative fee", row: func(r *Row) { r.FeeRate = -1 }, err: "negative fee"},
		{name: "negative amount", row: func(r *Row) { r.TokenTransferAmount = -5 }, err: "negative amount"},
		{name: "empty tx_id", row: func(r *Row) { r.TxID = nil }, err: "column tx_id: empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := baseRow()
			tc.row(&r)
			got, err := r.Tx()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrBadRow) {
					t.Fatalf("error = %v, want one containing %q and matching ErrBadRow", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := baseTx()
			tc.want(&want)
			if got != want {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestFinal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		row    func(*Row)
		height int64
		want   bool
	}{
		{"canonical at tip", func(*Row) {}, 3_000_001, true},
		{"below tip", func(*Row) {}, 3_000_100, true},
		{"above tip", func(*Row) {}, 3_000_000, false},
		{"non-canonical", func(r *Row) { r.Canonical = false }, 3_000_100, false},
		{"orphaned microblock", func(r *Row) { r.MicroblockCanonical = false }, 3_000_100, false},
	}
	for _, tc := range cases {
		r := baseRow()
		tc.row(&r)
		if got := r.Final(tc.height); got != tc.want {
			t.Errorf("%s: Final = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSameAsAPIDecode renders rows as the API's JSON would and checks the
// hiro decoder yields the same chain.Tx as the seed conversion.
func TestSameAsAPIDecode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		json string
		row  func(*Row)
	}{
		{"token transfer", `{"tx_id":"0xababababababababababababababababababababababababababababababab01","tx_type":"token_transfer","tx_status":"success","nonce":42,"fee_rate":"180",
			"sender_address":"SP000000000000000000002Q6VF78","sponsored":false,"block_hash":"0x00000000000000000000000000000000000000000000000000000000000000ff","block_height":3000001,
			"block_time":1700000100,"burn_block_height":900001,"burn_block_time":1700000000,"tx_index":3,"canonical":true,
			"microblock_canonical":true,"token_transfer":{"recipient_address":"SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE",
			"amount":"1000000","memo":"0x6869"}}`, func(*Row) {}},
		{"sponsored contract call, pre-Nakamoto time", `{"tx_id":"0xababababababababababababababababababababababababababababababab01","tx_type":"contract_call","tx_status":"abort_by_post_condition","nonce":42,"fee_rate":"9007199254740993",
			"sender_address":"SP000000000000000000002Q6VF78","sponsored":true,"sponsor_address":"SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE","block_hash":"0x00000000000000000000000000000000000000000000000000000000000000ff","block_height":3000001,
			"block_time":1700000000,"burn_block_height":900001,"burn_block_time":1700000000,"tx_index":3,"canonical":true,
			"microblock_canonical":true,"contract_call":{"contract_id":"SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE.pool","function_name":"swap","function_signature":""}}`,
			func(r *Row) {
				r.TypeID, r.Status, r.FeeRate, r.BlockTime = 2, -2, 1<<53+1, 0
				r.Sponsored, r.SponsorAddress, r.SponsorNull = true, "SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE", false
				r.ContractCallContractID, r.ContractCallFunctionName = "SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE.pool", "swap"
			}},
	}
	for _, tc := range cases {
		want, canonical, err := hiro.DecodeTx([]byte(tc.json))
		if err != nil || !canonical {
			t.Fatalf("%s: decode: %v (canonical %v)", tc.name, err, canonical)
		}
		r := baseRow()
		// The API's decoder checks that ids and hashes are 32 bytes.
		r.TxID, r.BlockHash = append(bytes.Repeat([]byte{0xab}, 31), 0x01), append(make([]byte, 31), 0xff)
		tc.row(&r)
		got, err := r.Tx()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != want {
			t.Errorf("%s:\nseed %+v\napi  %+v", tc.name, got, want)
		}
	}
}
