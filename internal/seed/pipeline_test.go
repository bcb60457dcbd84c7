package seed

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/stxwallets/walletcache/internal/chain"
)

func TestPipeline(t *testing.T) {
	t.Parallel()
	errProduce, errFn := errors.New("produce failed"), errors.New("fn failed")
	cases := []struct {
		name      string
		rows      int
		failAt    int // produce fails after this many rows; -1 never
		fnFailsAt int // fn fails on this batch (1-based); 0 never
		wantN     int64
		wantErr   error
	}{
		{"empty", 0, -1, 0, 0, nil},
		{"one partial batch", 10, -1, 0, 10, nil},
		{"exact batches", 2 * BatchSize, -1, 0, 2 * BatchSize, nil},
		{"many batches and a tail", 5*BatchSize + 7, -1, 0, 5*BatchSize + 7, nil},
		{"produce fails", 4 * BatchSize, 3*BatchSize + 1, 0, 3 * BatchSize, errProduce},
		{"fn fails and stops produce", 1 << 30, -1, 2, BatchSize, errFn},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			produced, batches, next := 0, 0, 0
			n, err := pipeline(context.Background(), func(ctx context.Context, emit func(chain.Tx) error) error {
				for produced < tc.rows {
					if produced == tc.failAt {
						return errProduce
					}
					if err := emit(chain.Tx{TxID: strconv.Itoa(produced)}); err != nil {
						return err
					}
					produced++
				}
				return nil
			}, func(b []chain.Tx) error {
				batches++
				if batches == tc.fnFailsAt {
					return errFn
				}
				for _, tx := range b {
					if tx.TxID != strconv.Itoa(next) {
						t.Fatalf("row %q, want %d: out of order or overwritten", tx.TxID, next)
					}
					next++
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || n != tc.wantN {
				t.Fatalf("pipeline = %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
			}
			if tc.fnFailsAt > 0 && produced > (tc.fnFailsAt+3)*BatchSize {
				t.Fatalf("produce went on for %d rows after fn failed", produced)
			}
		})
	}
}
