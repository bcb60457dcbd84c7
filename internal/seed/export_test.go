package seed

import (
	"context"
	"fmt"
	"strings"

	"github.com/stxwallets/walletcache/internal/chain"
)

// ScanCopyText is the alternative PostgreSQL read path the benchmarks
// compare with Scan: COPY (SELECT ...) TO STDOUT in text format, parsed by
// the archive reader's decoder. Scan's binary protocol won (see
// BenchmarkPostgresScan), so this lives only in tests.
func ScanCopyText(p *Postgres, ctx context.Context, start, end int64, fn func([]chain.Tx) error) (int64, error) {
	lo, hi := clampTime(start, end)
	where := strings.NewReplacer("$1", fmt.Sprint(lo), "$2", fmt.Sprint(hi), "$3", fmt.Sprint(p.tip.Height)).Replace(finalWhere)
	sql := "COPY (SELECT " + strings.Join(txsColumns, ", ") + " FROM " + ident(p.tip.Schema) + ".txs" + where +
		" ORDER BY burn_block_time, block_height, microblock_sequence, tx_index) TO STDOUT"
	dec, err := newTextRowDecoder(txsColumns)
	if err != nil {
		return 0, err
	}
	w := &copySink{dec: dec, fn: fn, batch: make([]chain.Tx, 0, BatchSize)}
	if _, err := p.conn.PgConn().CopyTo(ctx, w, sql); err != nil {
		return w.n, err
	}
	if err := w.flush(); err != nil {
		return w.n, err
	}
	return w.n, nil
}

// copySink receives CopyData messages; the server sends one row per message.
type copySink struct {
	dec   *textRowDecoder
	fn    func([]chain.Tx) error
	batch []chain.Tx
	row   Row
	n     int64
}

func (s *copySink) Write(p []byte) (int, error) {
	line := p
	if len(line) > 0 && line[len(line)-1] == '\n' {
		line = line[:len(line)-1]
	}
	if err := s.dec.decode(line, &s.row); err != nil {
		return 0, err
	}
	tx, err := s.row.Tx()
	if err != nil {
		return 0, err
	}
	s.batch = append(s.batch, tx)
	if len(s.batch) == BatchSize {
		if err := s.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (s *copySink) flush() error {
	if len(s.batch) == 0 {
		return nil
	}
	if err := s.fn(s.batch); err != nil {
		return err
	}
	s.n += int64(len(s.batch))
	s.batch = s.batch[:0]
	return nil
}
