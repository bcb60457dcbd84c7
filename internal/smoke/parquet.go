package smoke

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parquet-go/parquet-go"
)

// parquetWallets is what the checks need from the first-seen file.
type parquetWallets struct {
	path      string
	rows      int64
	distinct  int64
	nulls     int64
	duplicate string           // the first wallet seen twice
	senders   int64            // rows with receive_only = false
	cohorts   map[string]int64 // cohort_week (YYYY-MM-DD) → senders
}

// readParquet reads the wallet, receive_only and cohort_week columns with
// parquet-go, column chunk by column chunk.
func readParquet(path string) (*parquetWallets, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open first-seen parquet: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w", path, err)
	}
	idx := map[string]int{}
	for _, name := range []string{"wallet", "receive_only", "cohort_week"} {
		leaf, ok := pf.Schema().Lookup(name)
		if !ok {
			return nil, fmt.Errorf("parquet %s: %w: %s", path, errNoColumn, name)
		}
		idx[name] = leaf.ColumnIndex
	}
	out := &parquetWallets{path: path, cohorts: map[string]int64{}}
	seen := make(map[string]struct{}, pf.NumRows())
	epoch := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	for g, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		wallets, err := readColumn(chunks[idx["wallet"]], func(v parquet.Value) any {
			if v.IsNull() {
				return nil
			}
			return string(v.ByteArray()) // copies: the page buffer is reused
		})
		if err != nil {
			return nil, fmt.Errorf("parquet %s row group %d wallet: %w", path, g, err)
		}
		recv, err := readColumn(chunks[idx["receive_only"]], func(v parquet.Value) any {
			return !v.IsNull() && v.Boolean()
		})
		if err != nil {
			return nil, fmt.Errorf("parquet %s row group %d receive_only: %w", path, g, err)
		}
		weeks, err := readColumn(chunks[idx["cohort_week"]], func(v parquet.Value) any {
			if v.IsNull() {
				return nil
			}
			return epoch.AddDate(0, 0, int(v.Int32())).Format(time.DateOnly) // DATE = days since epoch
		})
		if err != nil {
			return nil, fmt.Errorf("parquet %s row group %d cohort_week: %w", path, g, err)
		}
		if len(wallets) != len(recv) || len(wallets) != len(weeks) {
			return nil, fmt.Errorf("parquet %s row group %d: columns have %d, %d and %d values", path, g, len(wallets), len(recv), len(weeks))
		}
		for i, w := range wallets {
			out.rows++
			ws, ok := w.(string)
			if !ok || ws == "" {
				out.nulls++
				continue
			}
			if _, dup := seen[ws]; dup {
				if out.duplicate == "" {
					out.duplicate = ws
				}
			} else {
				seen[ws] = struct{}{}
			}
			if recv[i] == false {
				out.senders++
				if wk, ok := weeks[i].(string); ok {
					out.cohorts[wk]++
				}
			}
		}
	}
	out.distinct = int64(len(seen))
	if out.rows != pf.NumRows() {
		return nil, fmt.Errorf("parquet %s: read %d rows, footer says %d", path, out.rows, pf.NumRows())
	}
	return out, nil
}

func readColumn(cc parquet.ColumnChunk, conv func(parquet.Value) any) ([]any, error) {
	r := parquet.NewColumnChunkValueReader(cc)
	defer r.Close()
	out := make([]any, 0, cc.NumValues())
	buf := make([]parquet.Value, 1024)
	for {
		n, err := r.ReadValues(buf)
		for _, v := range buf[:n] {
			out = append(out, conv(v))
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
