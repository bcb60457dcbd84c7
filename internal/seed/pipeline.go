package seed

import (
	"context"

	"github.com/stxwallets/walletcache/internal/chain"
)

// pipeline runs produce in its own goroutine and fn in the caller's, so
// that reading and converting the next rows overlaps with the caller
// storing the last ones (on a machine where the database server, the
// reader and the store compete for few cores, serialising them wastes
// most of the time). Two batches circulate, so memory stays at two
// batches; a batch handed to fn is reused once fn returns.
//
// produce calls emit for each row; emit fails only when the pipeline is
// stopping. An error from fn stops produce (through ctx) and is returned;
// otherwise produce's error is.
func pipeline(ctx context.Context, produce func(ctx context.Context, emit func(chain.Tx) error) error, fn func([]chain.Tx) error) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan []chain.Tx, 1)
	free := make(chan []chain.Tx, 2)
	free <- make([]chain.Tx, 0, BatchSize)
	free <- make([]chain.Tx, 0, BatchSize)
	var perr error
	go func() {
		defer close(full)
		batch := <-free
		send := func() error {
			// A select with both cases ready picks one at random: without
			// this check, produce could go on for batches after fn failed.
			if err := ctx.Err(); err != nil {
				return err
			}
			select {
			case full <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case batch = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			batch = batch[:0]
			return nil
		}
		perr = produce(ctx, func(tx chain.Tx) error {
			batch = append(batch, tx)
			if len(batch) == BatchSize {
				return send()
			}
			return nil
		})
		if perr == nil && len(batch) > 0 {
			perr = send()
		}
	}()
	var n int64
	var ferr error
	for b := range full { // ends when produce has returned: perr is then set
		if ferr == nil {
			if ferr = fn(b); ferr != nil {
				cancel()
			} else {
				n += int64(len(b))
			}
		}
		free <- b
	}
	if ferr != nil {
		return n, ferr
	}
	return n, perr
}
