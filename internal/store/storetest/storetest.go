// Package storetest reads the transactions table back for tests and
// compares it with a ground truth, every column, so that every package's
// tests prove exact equality the same way.
package storetest

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// Rows reads every row of the transactions table of db. Duplicate tx_ids
// fail the test: the table must hold each transaction once.
func Rows(t testing.TB, db *sql.DB) []chain.Tx {
	t.Helper()
	var dups int
	if err := db.QueryRow(`SELECT count(*) - count(DISTINCT tx_id) FROM transactions`).Scan(&dups); err != nil || dups != 0 {
		t.Fatalf("duplicate tx_ids: %d (%v)", dups, err)
	}
	rows, err := db.Query(`SELECT tx_id, tx_type, tx_status, block_height, block_hash, block_time, burn_block_height,
  burn_block_time, tx_index, sender_address, nonce, fee_rate, sponsored, coalesce(sponsor_address, ''),
  coalesce(token_transfer_recipient_address, ''), coalesce(token_transfer_amount, 0), coalesce(token_transfer_memo, ''),
  coalesce(contract_call_contract_id, ''), coalesce(contract_call_function_name, ''), coalesce(smart_contract_contract_id, ''), canonical
FROM transactions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []chain.Tx
	for rows.Next() {
		var x chain.Tx
		if err := rows.Scan(&x.TxID, &x.TxType, &x.TxStatus, &x.BlockHeight, &x.BlockHash, &x.BlockTime, &x.BurnBlockHeight,
			&x.BurnBlockTime, &x.TxIndex, &x.SenderAddress, &x.Nonce, &x.FeeRate, &x.Sponsored, &x.SponsorAddress,
			&x.TokenTransferRecipientAddress, &x.TokenTransferAmount, &x.TokenTransferMemo, &x.ContractCallContractID,
			&x.ContractCallFunctionName, &x.SmartContractContractID, &x.Canonical); err != nil {
			t.Fatal(err)
		}
		x.BlockTime, x.BurnBlockTime = x.BlockTime.UTC(), x.BurnBlockTime.UTC()
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// FarPast and FarFuture bound a range that holds every transaction.
var FarPast, FarFuture = time.Unix(0, 0), time.Unix(1<<40, 0)

// AssertExact fails the test unless got, restricted to burn times in
// [from, to], is exactly want: nothing missing, nothing extra, every
// column equal.
func AssertExact(t testing.TB, got, want []chain.Tx, from, to time.Time) {
	t.Helper()
	in := map[string]chain.Tx{}
	for _, x := range got {
		if !x.BurnBlockTime.Before(from) && !x.BurnBlockTime.After(to) {
			in[x.TxID] = x
		}
	}
	var missing, wrong []string
	for _, w := range want {
		g, ok := in[w.TxID]
		switch {
		case !ok:
			missing = append(missing, w.TxID)
		case g != w:
			wrong = append(wrong, fmt.Sprintf("%s: got %+v want %+v", w.TxID, g, w))
		}
		delete(in, w.TxID)
	}
	extra := make([]string, 0, len(in))
	for id := range in {
		extra = append(extra, id)
	}
	if len(missing)+len(extra)+len(wrong) > 0 {
		t.Fatalf("database differs from the ground truth (%d expected): %d missing %v, %d extra %v, %d wrong %v",
			len(want), len(missing), head(missing), len(extra), head(extra), len(wrong), head(wrong))
	}
}

func head(s []string) []string { return s[:min(len(s), 3)] }
