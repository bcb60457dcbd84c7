package backfill

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// recordCache is a PageCache that holds only records.
type recordCache map[string][]byte

func (c recordCache) Get(string) ([]byte, bool, error)     { return nil, false, nil }
func (c recordCache) Put(string, []byte) error             { return nil }
func (c recordCache) Delete(string) error                  { return nil }
func (c recordCache) Stage(string, []byte) (string, error) { return "", nil }
func (c recordCache) Place(string, string) error           { return nil }
func (c recordCache) Discard(string)                       {}
func (c recordCache) ReadRecord(name string) ([]byte, bool, error) {
	b, ok := c[name]
	return b, ok, nil
}
func (c recordCache) WriteRecord(name string, b []byte) error { c[name] = b; return nil }

func TestRawCacheShare(t *testing.T) {
	t.Parallel()
	horizon := store.Span{Start: 1000, End: 1999}
	rec := offlineRecord{Blocks: []recordedBlock{{Height: 100, BlockTime: 900}, {Height: 299, BlockTime: 1899}}}
	rec.Tip.BurnBlockTime = 2100
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	cache := recordCache{OfflineRecordName: b}
	// A chain younger than the horizon: its first block (height 150) is
	// after the horizon's start, so no lookup answers there.
	young := rec
	young.Blocks = young.Blocks[1:]
	young.Tip.Height, young.Tip.Blocks = 300, 151
	yb, err := json.Marshal(young)
	if err != nil {
		t.Fatal(err)
	}
	youngCache := recordCache{OfflineRecordName: yb}
	v1 := func(s, e int64) string { return CacheKey(SourceV1, hiro.Window{Start: s, End: e}, 0) }
	tests := []struct {
		name   string
		keys   []string
		cache  PageCache
		v1, v3 float64 // -1: not measured
	}{
		{"empty", nil, cache, -1, -1},
		{"half the windows, later pages and overlaps counted once", []string{
			v1(900, 1099), v1(1000, 1099), v1(1300, 1599), CacheKey(SourceV1, hiro.Window{Start: 1600, End: 1699}, 50)}, cache, 40, -1},
		{"v3 cells: heights 100..299 on a grid of 100, one of two cells held", []string{
			V3CacheKey(hiro.BlockTopCursor(199)), V3CacheKey("150:0:3")}, cache, -1, 50},
		{"v3 without a record is not measured", []string{V3CacheKey(hiro.BlockTopCursor(199))}, recordCache{}, -1, -1},
		{"v3 of a chain younger than the horizon: from its first height, 150..299", []string{
			V3CacheKey(hiro.BlockTopCursor(199)), V3CacheKey(hiro.BlockTopCursor(299))}, youngCache, -1, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := RawCacheShare(tt.cache, tt.keys, horizon, 100, 100)
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, p *float64, want float64) {
				switch {
				case want < 0 && p != nil:
					t.Errorf("%s = %v, want not measured", name, *p)
				case want >= 0 && (p == nil || math.Abs(*p-want) > 1e-9):
					t.Errorf("%s = %v, want %v", name, p, want)
				}
			}
			check("v1", got.V1, tt.v1)
			check("v3", got.V3, tt.v3)
		})
	}
}
