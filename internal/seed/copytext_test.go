package seed

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestUnescapeText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		bad      bool
	}{
		{in: `plain`, want: "plain"},
		{in: `a\tb\nc\\d`, want: "a\tb\nc\\d"},
		{in: `\b\f\r\v`, want: "\b\f\r\v"},
		{in: `\101\60x`, want: "A0x"},
		{in: `\x41\x4a\xz`, want: "AJxz"},
		{in: `\"quoted\"`, want: `"quoted"`},
		{in: `ends\`, bad: true},
		{in: "caf\xc3\xa9 \U0001F680", want: "café 🚀"},
	}
	for _, tc := range cases {
		got, err := unescapeText([]byte(tc.in), nil)
		if tc.bad {
			if !errors.Is(err, errCopyFormat) {
				t.Errorf("%q: error %v, want errCopyFormat", tc.in, err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeBytea(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []byte
		bad  bool
	}{
		{in: `\\x`, want: []byte{}},
		{in: `\\x00ff10`, want: []byte{0, 0xff, 0x10}},
		{in: `\\xABcd`, want: []byte{0xab, 0xcd}},
		{in: `ab\\\\c\\001`, want: []byte{'a', 'b', '\\', 'c', 1}}, // bytea_output = escape
		{in: `\\x0`, bad: true},
		{in: `\\xzz`, bad: true},
		{in: `\\9`, bad: true},
	}
	for _, tc := range cases {
		got, err := decodeBytea([]byte(tc.in), nil)
		if tc.bad {
			if !errors.Is(err, errCopyFormat) {
				t.Errorf("%q: error %v, want errCopyFormat", tc.in, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%q: got %x, %v; want %x", tc.in, got, err, tc.want)
		}
	}
}

func TestParseInt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "-3", want: -3},
		{in: "2147483647", want: 2147483647},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "-9223372036854775808", want: -9223372036854775808},
		{in: "9223372036854775808", bad: true},
		{in: "", bad: true},
		{in: "12a", bad: true},
		{in: "-", bad: true},
	}
	for _, tc := range cases {
		got, err := parseInt([]byte(tc.in))
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%q: got %d, %v; want %d (bad %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// copyLine builds one COPY text line with the txs columns in a shuffled
// order plus an extra column, as a dump would have them.
func copyLine(values map[string]string) (cols []string, line string) {
	cols = append([]string{"id"}, txsColumns...)
	cols[1], cols[len(cols)-1] = cols[len(cols)-1], cols[1] // order must not matter
	fields := make([]string, len(cols))
	for i, c := range cols {
		v, ok := values[c]
		if !ok {
			v = `\N`
		}
		fields[i] = v
	}
	return cols, strings.Join(fields, "\t")
}

func TestTextRowDecoder(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		"id": "17", "tx_id": `\\xabcd01`, "tx_index": "3", "block_hash": `\\x00ff`, "block_height": "3000001",
		"block_time": "1700000100", "burn_block_height": "900001", "burn_block_time": "1700000000",
		"type_id": "0", "status": "1", "nonce": "42", "fee_rate": "180", "sponsored": "f",
		"sender_address": "SP000000000000000000002Q6VF78", "canonical": "t", "microblock_canonical": "t",
		"token_transfer_recipient_address": "SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE",
		"token_transfer_amount":            "1000000", "token_transfer_memo": `\\x6869`,
	}
	cols, line := copyLine(values)
	d, err := newTextRowDecoder(cols)
	if err != nil {
		t.Fatal(err)
	}
	var r Row
	if err := d.decode([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	got, err := r.Tx()
	if err != nil {
		t.Fatal(err)
	}
	if want := baseTx(); got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	bad := []struct {
		name, col, val, err string
	}{
		{"bad bool", "canonical", "yes", "column canonical"},
		{"bad int", "nonce", "4x", "column nonce"},
		{"bad bytea", "tx_id", `\\xabc`, "column tx_id"},
	}
	for _, tc := range bad {
		v := map[string]string{}
		for k, x := range values {
			v[k] = x
		}
		v[tc.col] = tc.val
		_, line := copyLine(v)
		if err := d.decode([]byte(line), &r); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one naming %q", tc.name, err, tc.err)
		}
	}
	if err := d.decode([]byte("1\t2"), &r); !errors.Is(err, errCopyFormat) {
		t.Errorf("short line: error %v, want errCopyFormat", err)
	}
	if _, err := newTextRowDecoder([]string{"id", "tx_id"}); err == nil || !strings.Contains(err.Error(), "block_time") {
		t.Errorf("missing columns: error %v, want one naming block_time", err)
	}
}

func TestCopyReaderLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 3<<20)
	r := newCopyReader(strings.NewReader("a\n" + long + "\nlast"))
	for _, want := range []string{"a", long, "last"} {
		got, err := r.line()
		if err != nil || string(got) != want {
			t.Fatalf("line of %d bytes: got %d bytes, %v", len(want), len(got), err)
		}
	}
	if _, err := r.line(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: %v, want EOF", err)
	}
}

func TestCopyColumns(t *testing.T) {
	t.Parallel()
	got, err := copyColumns([]byte(`COPY stacks_blockchain_api.txs (id, tx_id, "we""ird") FROM stdin;`))
	if err != nil || strings.Join(got, "|") != `id|tx_id|we"ird` {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"postgres://u:s3cret@host:5432/db", "postgres://u:xxxxx@host:5432/db"},
		{"postgresql://u:p%40ss@host/db?sslmode=disable", "postgresql://u:xxxxx@host/db?sslmode=disable"},
		{"postgres://host/db?password=s3cret&x=1", "postgres://host/db?password=xxxxx&x=1"},
		{"host=h user=u password='a b\\'c' dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password=s3cret", "host=h password=xxxxx"},
		{"postgres://u@host/db", "postgres://u@host/db"},
	}
	for _, tc := range cases {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (redactor{password: "p@ss"}).clean("auth failed for p@ss and p%40ss"); strings.Contains(got, "ss") {
		t.Errorf("clean left the password: %q", got)
	}
}

func TestCheckMigrations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		names []string
		want  string
		err   string
	}{
		{"v9 squashed", []string{"1600000000000_blocks", "1600000000001_txs"}, "1600000000001_txs", ""},
		{"v9 with later", []string{"1600000000001_txs", "1778599015338_principal-tx-balance-changes"}, "1778599015338_principal-tx-balance-changes", ""},
		{"v8", []string{"1584619633448_txs", "1714725791998_tx-burn-height", "1747408872545_txs-vm-error"}, "1747408872545_txs-vm-error", ""},
		{"v7.10", []string{"1584619633448_txs", "1710443563029_stacks_block_time"}, "", "too old (newest migration 1710443563029_stacks_block_time)"},
		{"empty", nil, "", "lists no migration"},
	}
	for _, tc := range cases {
		got, err := checkMigrations(tc.names, "db")
		if tc.err != "" {
			if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want ErrVersion with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
