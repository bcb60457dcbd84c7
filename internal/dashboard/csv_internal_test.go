package dashboard

import (
	"database/sql"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stxwallets/walletcache/internal/wallets"
)

// Chain text that a spreadsheet would run as a formula is neutralised
// with a leading quote; ordinary text and numbers (even negative ones) are
// written as they are.
func TestPanelCSVNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	str := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	tests := []struct {
		contract, function string
		wantContract       string
		wantFunction       string
	}{
		{`=cmd|' /C calc'!A0`, "transfer", `'=cmd|' /C calc'!A0`, "transfer"},
		{"SP000000000000000000002Q6VF78.pox-4", "+SUM(A1:A9)", "SP000000000000000000002Q6VF78.pox-4", "'+SUM(A1:A9)"},
		{"-2+3", "@SUM(1)", "'-2+3", "'@SUM(1)"},
		{"\tx", "\rx", "'\tx", "'\rx"},
		{"a=b", "<b>mint</b>", "a=b", "<b>mint</b>"},
	}
	var p wallets.Panels
	for _, tt := range tests {
		p.Acquisition = append(p.Acquisition, wallets.AcquisitionRow{TxType: "contract_call", ContractID: str(tt.contract),
			FunctionName: str(tt.function), Wallets: 3, Share: -0.25})
	}
	var acq csvTable
	for _, tb := range panelTables(p, nil) {
		if tb.name == "acquisition" {
			acq = tb
		}
	}
	path := filepath.Join(t.TempDir(), "acquisition.csv")
	if err := writeCSV(path, acq.header, acq.rows); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		want := []string{"contract_call", tt.wantContract, tt.wantFunction, "3", "-0.25"} // a number, negative or not, stays a number
		if got := rows[i+1]; !slices.Equal(got, want) {
			t.Errorf("row %d = %q, want %q", i+1, got, want)
		}
	}
}
