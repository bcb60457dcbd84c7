package backfill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/hiro"
)

// depthChain is a blockHasher and depthBlocker whose answers a test sets.
type depthChain struct {
	height int64
	err    error
	asked  []int64 // heights BlockHash was asked for
}

func (d *depthChain) BlockAtDepth(context.Context, int64) (int64, string, error) {
	return d.height, "0xdeep", d.err
}

func (d *depthChain) BlockHash(_ context.Context, height int64) (string, error) {
	d.asked = append(d.asked, height)
	return fmt.Sprintf("0x%d", height), nil
}

// The anchor is the block the list names anchorDepth below the newest; a
// chain not that long, or a server that refuses the list's offset, names
// the block at the tip less anchorDepth (or the chain's first) instead;
// a deep block outside the chain's heights, or any other failure, is an
// error.
func TestChooseAnchor(t *testing.T) {
	t.Parallel()
	tip := hiro.Tip{Height: 5000, Blocks: 4500}
	refused := &hiro.StatusError{Status: http.StatusBadRequest}
	down := errors.New("server down")
	for _, tc := range []struct {
		name   string
		d      depthChain
		first  int64
		want   anchor
		asked  int
		errMsg string
	}{
		{name: "the list's block", d: depthChain{height: 4000}, first: 501, want: anchor{4000, "0xdeep"}},
		{name: "short chain", d: depthChain{err: hiro.ErrBlockNotFound}, first: 4501, want: anchor{4501, "0x4501"}, asked: 1},
		{name: "offset refused", d: depthChain{err: fmt.Errorf("wrapped: %w", refused)}, first: 501, want: anchor{4000, "0x4000"}, asked: 1},
		{name: "above the tip", d: depthChain{height: 5001}, first: 501, errMsg: "outside the chain's heights"},
		{name: "below the first block", d: depthChain{height: 500}, first: 501, errMsg: "outside the chain's heights"},
		{name: "other failure", d: depthChain{err: down}, first: 501, errMsg: "server down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			got, err := chooseAnchor(context.Background(), &d, tip, tc.first)
			switch {
			case tc.errMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("anchor %v, err %v; want an error with %q", got, err, tc.errMsg)
				}
			case err != nil || got != tc.want || len(d.asked) != tc.asked:
				t.Fatalf("anchor %v, err %v, BlockHash asked %v; want %v after %d", got, err, d.asked, tc.want, tc.asked)
			}
		})
	}
}
