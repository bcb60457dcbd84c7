package seed

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// txsColumns are the txs columns the readers fetch, in the order of the
// PostgreSQL reader's SELECT. The archive reader finds them by name in the
// dump's COPY header, so the dump's column order does not matter.
var txsColumns = []string{
	"tx_id", "tx_index", "block_hash", "block_height", "block_time",
	"burn_block_height", "burn_block_time", "type_id", "status", "nonce",
	"fee_rate", "sponsored", "sponsor_address", "sender_address", "canonical",
	"microblock_canonical", "token_transfer_recipient_address",
	"token_transfer_amount", "token_transfer_memo", "contract_call_contract_id",
	"contract_call_function_name", "smart_contract_contract_id",
}

// Positions of txsColumns, used by both row decoders.
const (
	cTxID = iota
	cTxIndex
	cBlockHash
	cBlockHeight
	cBlockTime
	cBurnBlockHeight
	cBurnBlockTime
	cTypeID
	cStatus
	cNonce
	cFeeRate
	cSponsored
	cSponsorAddress
	cSenderAddress
	cCanonical
	cMicroblockCanonical
	cTTRecipient
	cTTAmount
	cTTMemo
	cCCContractID
	cCCFunctionName
	cSCContractID
	nTxsColumns
)

// errCopyFormat marks COPY text that does not follow PostgreSQL's rules
// (wrong field count, a bad escape, a bool that is neither t nor f).
var errCopyFormat = errors.New("malformed COPY text")

// COPY text format, as PostgreSQL writes it (COPY ... TO, pg_dump data):
// one row per line, fields separated by a tab, NULL written as \N, and in
// field data a backslash escapes: \b \f \n \r \t \v \\, \NNN octal and \xHH
// hex. A literal tab or newline never occurs inside a field, so splitting on
// them is exact. bytea fields hold the bytea text form (\x followed by hex,
// or the old escape form) with its backslash doubled by COPY.

// splitFields splits one line (without its newline) at tabs into fields,
// reusing fields' storage.
func splitFields(line []byte, fields [][]byte) [][]byte {
	fields = fields[:0]
	for {
		i := bytes.IndexByte(line, '\t')
		if i < 0 {
			return append(fields, line)
		}
		fields = append(fields, line[:i])
		line = line[i+1:]
	}
}

func isNull(f []byte) bool { return len(f) == 2 && f[0] == '\\' && f[1] == 'N' }

// unescapeText undoes COPY's escaping. Fields without a backslash, nearly
// all of them, are returned as they are.
func unescapeText(f []byte, dst []byte) ([]byte, error) {
	if bytes.IndexByte(f, '\\') < 0 {
		return f, nil
	}
	out := dst[:0]
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(f) {
			return nil, fmt.Errorf("%w: field ends with a lone backslash", errCopyFormat)
		}
		switch c = f[i]; c {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(f) && hexVal(f[i+1]) >= 0 {
				v = v<<4 | hexVal(f[i+1])
				i++
				n++
			}
			if n == 0 { // PostgreSQL reads "\x" without digits as a plain x
				out = append(out, 'x')
			} else {
				out = append(out, byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for n := 1; n < 3 && i+1 < len(f) && f[i+1] >= '0' && f[i+1] <= '7'; n++ {
				v = v<<3 | int(f[i+1]-'0')
				i++
			}
			out = append(out, byte(v))
		default: // any other escaped character stands for itself (\\ is a backslash)
			out = append(out, c)
		}
	}
	return out, nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// decodeBytea decodes a COPY field holding bytea into dst.
func decodeBytea(f []byte, dst []byte) ([]byte, error) {
	// Fast path: hex output (PostgreSQL's default), "\\x" then hex digits,
	// which COPY never escapes further.
	if len(f) >= 3 && f[0] == '\\' && f[1] == '\\' && f[2] == 'x' {
		return decodeHex(f[3:], dst)
	}
	text, err := unescapeText(f, nil)
	if err != nil {
		return nil, err
	}
	if len(text) >= 2 && text[0] == '\\' && text[1] == 'x' {
		return decodeHex(text[2:], dst)
	}
	// bytea_output = escape: bytes as themselves, \\ for a backslash and
	// \NNN octal for the rest.
	out := dst[:0]
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		switch {
		case i+1 < len(text) && text[i+1] == '\\':
			out = append(out, '\\')
			i++
		case i+3 < len(text) && isOctal(text[i+1]) && isOctal(text[i+2]) && isOctal(text[i+3]):
			out = append(out, (text[i+1]-'0')<<6|(text[i+2]-'0')<<3|(text[i+3]-'0'))
			i += 3
		default:
			return nil, fmt.Errorf("%w: bad bytea escape", errCopyFormat)
		}
	}
	return out, nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func decodeHex(h []byte, dst []byte) ([]byte, error) {
	if len(h)%2 != 0 {
		return nil, fmt.Errorf("%w: odd-length bytea hex", errCopyFormat)
	}
	out := dst[:0]
	for i := 0; i < len(h); i += 2 {
		hi, lo := hexVal(h[i]), hexVal(h[i+1])
		if hi < 0 || lo < 0 {
			return nil, fmt.Errorf("%w: bad bytea hex digit", errCopyFormat)
		}
		out = append(out, byte(hi<<4|lo))
	}
	return out, nil
}

// parseInt parses a decimal integer field without allocating.
func parseInt(f []byte) (int64, error) {
	neg := false
	s := f
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || len(s) > 19 {
		return strconv.ParseInt(string(f), 10, 64) // for its error (or a long valid form)
	}
	var v int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q is not an integer", errCopyFormat, f)
		}
		d := int64(c - '0')
		if v > (1<<63-1-d)/10 {
			return strconv.ParseInt(string(f), 10, 64) // out of range, let strconv say so
		}
		v = v*10 + d
	}
	if neg {
		v = -v
	}
	return v, nil
}

func parseBool(f []byte) (bool, error) {
	if len(f) == 1 {
		switch f[0] {
		case 't':
			return true, nil
		case 'f':
			return false, nil
		}
	}
	return false, fmt.Errorf("%w: %q is not a boolean", errCopyFormat, f)
}

// textRowDecoder turns COPY text lines of txs into Rows. pos maps each of
// txsColumns to its field number in the line.
type textRowDecoder struct {
	pos    [nTxsColumns]int
	width  int // fields per line
	fields [][]byte
	arena  []byte // backing store of the row's bytea and unescaped text
}

// newTextRowDecoder finds txsColumns in the COPY header's column list.
func newTextRowDecoder(columns []string) (*textRowDecoder, error) {
	at := make(map[string]int, len(columns))
	for i, c := range columns {
		at[c] = i
	}
	d := &textRowDecoder{width: len(columns)}
	var missing []string
	for i, c := range txsColumns {
		p, ok := at[c]
		if !ok {
			missing = append(missing, c)
		}
		d.pos[i] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("txs lacks column(s) %s", strings.Join(missing, ", "))
	}
	return d, nil
}

// decode fills r from line. Byte slices in r point into the decoder's
// arena and stay valid until the next call.
func (d *textRowDecoder) decode(line []byte, r *Row) error {
	d.fields = splitFields(line, d.fields)
	return d.decodeFields(d.fields, r)
}

// decodeFields is decode for a line already split at tabs.
func (d *textRowDecoder) decodeFields(fields [][]byte, r *Row) error {
	if len(fields) != d.width {
		return fmt.Errorf("%w: %d fields, the header names %d", errCopyFormat, len(fields), d.width)
	}
	d.arena = d.arena[:0]
	f := func(c int) []byte { return fields[d.pos[c]] }
	var err error
	col := func(c int, e error) error {
		if e != nil && err == nil {
			err = fmt.Errorf("column %s: %w", txsColumns[c], e)
		}
		return e
	}
	bytea := func(c int) []byte {
		if isNull(f(c)) {
			return nil
		}
		start := len(d.arena)
		b, e := decodeBytea(f(c), d.arena[start:])
		if col(c, e) != nil {
			return nil
		}
		d.arena = append(d.arena[:start], b...)
		out := d.arena[start:len(d.arena):len(d.arena)]
		if out == nil {
			out = []byte{}
		}
		return out
	}
	text := func(c int) (string, bool) {
		if isNull(f(c)) {
			return "", true
		}
		b, e := unescapeText(f(c), nil)
		if col(c, e) != nil {
			return "", false
		}
		return string(b), false
	}
	integer := func(c int) (int64, bool) {
		if isNull(f(c)) {
			return 0, true
		}
		v, e := parseInt(f(c))
		col(c, e)
		return v, false
	}
	boolean := func(c int) bool {
		v, e := parseBool(f(c))
		col(c, e)
		return v
	}
	// Sized once so the slices handed out below never move.
	if cap(d.arena) < 256 {
		d.arena = make([]byte, 0, 256)
	}
	need := len(f(cTxID)) + len(f(cBlockHash)) + len(f(cTTMemo))
	if cap(d.arena) < need {
		d.arena = make([]byte, 0, need)
	}
	columns{bytea: bytea, integer: integer, text: text, boolean: boolean}.fill(r)
	return err
}

// copyReader reads COPY text lines of any length from a stream.
type copyReader struct {
	br   *bufio.Reader
	long []byte // assembles lines longer than the buffer
}

func newCopyReader(r io.Reader) *copyReader {
	return &copyReader{br: bufio.NewReaderSize(r, 1<<20)}
}

// line returns the next line without its newline; it is valid until the
// next call. At the end of the stream it returns io.EOF.
func (c *copyReader) line() ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	if err == nil {
		return b[:len(b)-1], nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		c.long = append(c.long[:0], b...)
		for {
			b, err = c.br.ReadSlice('\n')
			c.long = append(c.long, b...)
			if err == nil {
				return c.long[:len(c.long)-1], nil
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		b = c.long
	}
	if errors.Is(err, io.EOF) && len(b) > 0 {
		return b, nil // a last line without newline
	}
	return nil, err
}
