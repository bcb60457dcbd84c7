package hiro_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// Walking the simulator's v3 list from the tip to the bottom decodes into
// exactly its ground truth, every column equal (v1 and v3 agree on the
// store's columns), and ends on the bottom of the chain.
func TestV3WalkMatchesGroundTruth(t *testing.T) {
	sim := hirosim.New(hirosim.Config{Seed: 21, History: 6 * time.Hour, TxPerBlock: 1.5, Hostile: true})
	url := sim.Start()
	t.Cleanup(sim.Close)
	c, err := hiro.New(hiro.Options{BaseURL: url, RequestsPerMinute: 1e6, RequestsPerSecond: 1e4,
		Concurrency: 1, Timeout: 10 * time.Second, MaxWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := c.ProbeV3(ctx); !ok || err != nil {
		t.Fatalf("probe: %v %v", ok, err)
	}
	var got []chain.Tx
	cursor := ""
	for {
		p, _, err := c.V3Transactions(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Txs...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	slices.Reverse(got)
	want := sim.All()
	if len(got) != len(want) {
		t.Fatalf("walked %d transactions, the chain has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("tx %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// Below the first transaction there is nothing: 200 and an empty page.
	if p, _, err := c.V3Transactions(ctx, hiro.BlockTopCursor(want[0].BlockHeight-1)); err != nil || len(p.Txs) != 0 || p.Next != "" || p.Current != "" {
		t.Fatalf("below the chain: %+v %v", p, err)
	}
	// A cursor whose row is gone continues below it, and Current says so.
	top := want[len(want)-1]
	gone := fmt.Sprintf("%d:2147483647:%d", top.BlockHeight, top.TxIndex+3)
	p, _, err := c.V3Transactions(ctx, gone)
	if err != nil || p.Current == gone || len(p.Txs) == 0 || p.Txs[0] != top {
		t.Fatalf("cursor %s: current %q, %d results, %v", gone, p.Current, len(p.Txs), err)
	}
	// by-block-time maps a time to the newest block at or before it.
	mid := want[len(want)/2]
	b, err := c.BlockAtTime(ctx, mid.BlockTime.Unix())
	if err != nil || b.BlockTime.After(mid.BlockTime) || b.Height < mid.BlockHeight {
		t.Fatalf("block at %v: %+v %v", mid.BlockTime, b, err)
	}
	if _, err := c.BlockAtTime(ctx, want[0].BlockTime.Unix()-1); !errors.Is(err, hiro.ErrBlockNotFound) {
		t.Fatalf("before the chain: %v", err)
	}

	sim.SetFaults(hirosim.Faults{V3Absent: true})
	if ok, err := c.ProbeV3(ctx); ok || err != nil {
		t.Fatalf("probe without v3: %v %v", ok, err)
	}
	if _, _, err := c.V3Transactions(ctx, "5:0:0"); !errors.Is(err, hiro.ErrV3Unavailable) {
		t.Fatalf("v3 absent: %v", err)
	}
}
