package rawcache

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for dating pages.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// newAt returns a cache in dir whose clock is now.
func newAt(dir string, now func() time.Time) *Cache {
	c := New(dir)
	c.now = now
	return c
}

func newCache(t *testing.T, at string) (*Cache, *clock) {
	t.Helper()
	clk := &clock{t: day(at)}
	return newAt(t.TempDir(), clk.Now), clk
}

// gz compresses body the way a cached page is stored.
func gz(t testing.TB, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// plant writes a file straight into a folder, bypassing Put.
func plant(t testing.TB, dir, folder, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, folder, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustGet(t *testing.T, c *Cache, key string) ([]byte, bool) {
	t.Helper()
	body, ok, err := c.Get(key)
	if err != nil {
		t.Fatalf("Get(%q) error: %v", key, err)
	}
	return body, ok
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestRoundTrip(t *testing.T) {
	c, _ := newCache(t, "2026-03-10T23:59:59Z")
	big := bytes.Repeat([]byte(`{"tx_id":"0xabc","fee_rate":"180"},`), 20000)
	pages := map[string][]byte{
		"v1_tx_1700000000_1700003600_p0": []byte(`{"limit":50,"offset":0,"total":2,"results":[]}`),
		"v3.cursor-812345.0.17":          big,
		"empty":                          {},
	}
	for k, body := range pages {
		if err := c.Put(k, body); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	for _, cache := range []*Cache{c, New(c.dir)} { // warm index, then a fresh one built from disk
		for k, want := range pages {
			got, ok := mustGet(t, cache, k)
			if !ok || !bytes.Equal(got, want) {
				t.Errorf("Get(%q) = %d bytes, ok=%v; want %d bytes", k, len(got), ok, len(want))
			}
		}
		if _, ok := mustGet(t, cache, "absent"); ok {
			t.Error("Get of an absent key hit")
		}
	}
	// The file sits in the UTC fetch-date folder and is plain gzip.
	path := filepath.Join(c.dir, "hiro_transactions_2026-03-10", "v3.cursor-812345.0.17.json.gz")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("page not at %s: %v", path, err)
	}
	if len(raw) >= len(big) {
		t.Errorf("page stored as %d bytes, not compressed (%d raw)", len(raw), len(big))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, big) {
		t.Errorf("file is not the gzip of the page: %v", err)
	}
}

// A staged page is invisible until placed, and then is the file Put
// writes, byte for byte; a discarded one is gone; a name that is no staged
// page of the cache, or a key that cannot name a file, is refused.
func TestStagedPageIsPut(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, "2026-03-10T12:00:00Z")
	body := bytes.Repeat([]byte(`{"tx_id":"0xabc","fee_rate":"180"},`), 2000)
	staged, err := c.Stage("v1_1_2_o0_l50", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, New(c.dir), "v1_1_2_o0_l50"); ok {
		t.Fatal("a staged page is served before it is placed")
	}
	if err := c.Place("v1_1_2_o0_l50", staged); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("v1_1_2_o50_l50", body); err != nil {
		t.Fatal(err)
	}
	for _, cache := range []*Cache{c, New(c.dir)} {
		if got, ok := mustGet(t, cache, "v1_1_2_o0_l50"); !ok || !bytes.Equal(got, body) {
			t.Fatalf("Get of the placed page: %d bytes, ok=%v; want %d", len(got), ok, len(body))
		}
	}
	folder := filepath.Join(c.dir, "hiro_transactions_2026-03-10")
	viaStage, err := os.ReadFile(filepath.Join(folder, "v1_1_2_o0_l50.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	viaPut, err := os.ReadFile(filepath.Join(folder, "v1_1_2_o50_l50.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	// Only the name in the gzip header differs (o0 against o50).
	if want := bytes.Replace(viaPut, []byte("_o50_"), []byte("_o0_"), 1); !bytes.Equal(viaStage, want) {
		t.Errorf("placed file differs from Put's: %d against %d bytes", len(viaStage), len(viaPut))
	}
	if len(viaStage) >= len(body)/4 {
		t.Errorf("stored %d bytes of %d: not compressed", len(viaStage), len(body))
	}

	gone, err := c.Stage("v1_3_4_o0_l50", body)
	if err != nil {
		t.Fatal(err)
	}
	c.Discard(gone)
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("discarded page still on disk: %v", err)
	}
	if err := c.Place("v1_3_4_o0_l50", gone); err == nil {
		t.Error("placing a discarded page succeeded")
	}
	if keys, err := c.Keys(); err != nil || !slices.Equal(keys, []string{"v1_1_2_o0_l50", "v1_1_2_o50_l50"}) {
		t.Errorf("Keys() = %v, %v", keys, err)
	}
	outside := filepath.Join(t.TempDir(), ".x.json.gz.1.tmp")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Place("v1_5_6_o0_l50", outside); err == nil {
		t.Error("placed a file from outside the cache")
	}
	c.Discard(outside)
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("Discard removed a file outside the cache: %v", err)
	}
	if _, err := c.Stage("../x", body); !errors.Is(err, ErrBadKey) {
		t.Errorf("Stage of a bad key: %v, want ErrBadKey", err)
	}
	if err := c.Place("../x", staged); !errors.Is(err, ErrBadKey) {
		t.Errorf("Place of a bad key: %v, want ErrBadKey", err)
	}
}

// EachKey hands out every page of every folder, past the thousand
// entries a listing is read in, a key held in two folders once for each;
// Keys lists each once, sorted.
func TestEachKeyReadsWholeFolders(t *testing.T) {
	t.Parallel()
	c, clk := newCache(t, "2026-03-10T12:00:00Z")
	var want []string
	for i := range 2500 {
		k := fmt.Sprintf("v1_1_2_o%d_l50", i*50)
		if err := c.Put(k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	clk.Set(day("2026-03-11T12:00:00Z"))
	if err := c.Put(want[0], []byte("{}")); err != nil { // a newer copy, after the older one is gone
		t.Fatal(err)
	}
	plant(t, c.dir, "hiro_transactions_2026-03-10", want[0]+Ext, gz(t, []byte("{}"))) // and an older one again
	seen := map[string]int{}
	if err := c.EachKey(func(k string) { seen[k]++ }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(want) || seen[want[0]] != 2 || seen[want[len(want)-1]] != 1 {
		t.Fatalf("EachKey: %d keys, %s %d times, want %d keys and it twice", len(seen), want[0], seen[want[0]], len(want))
	}
	keys, err := c.Keys()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("Keys: %d keys, want %d sorted, each once", len(keys), len(want))
	}
}

func TestFetchDateIsUTC(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 10, 23, 30, 0, 0, time.FixedZone("UTC-5", -5*3600))} // 2026-03-11 04:30 UTC
	c := newAt(t.TempDir(), clk.Now)
	if err := c.Put("k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(c.dir, "hiro_transactions_2026-03-11", "k.json.gz")) {
		t.Error("page not filed under its UTC date")
	}
}

func TestKeys(t *testing.T) {
	c, _ := newCache(t, "2026-03-10T12:00:00Z")
	bad := []string{"", ".hidden", "..", "a/b", "../escape", `a\b`, "a b", "tab\t", "nul\x00", "é", "a:b", strings.Repeat("a", MaxKeyLen+1)}
	for _, k := range bad {
		if err := c.Put(k, []byte("x")); !errors.Is(err, ErrBadKey) {
			t.Errorf("Put(%q) = %v, want ErrBadKey", k, err)
		}
		if _, _, err := c.Get(k); !errors.Is(err, ErrBadKey) {
			t.Errorf("Get(%q) = %v, want ErrBadKey", k, err)
		}
		if err := c.Delete(k); !errors.Is(err, ErrBadKey) {
			t.Errorf("Delete(%q) = %v, want ErrBadKey", k, err)
		}
	}
	if entries, _ := os.ReadDir(c.dir); len(entries) != 0 {
		t.Errorf("bad keys created files: %v", entries)
	}
	good := []string{"a", "A9", "v1_tx_2026-01-01T00.p3", "x-y_z.w", "a.tmp", strings.Repeat("k", MaxKeyLen)}
	for _, k := range good {
		if err := c.Put(k, []byte(k)); err != nil {
			t.Errorf("Put(%q) = %v", k, err)
			continue
		}
		if got, ok := mustGet(t, c, k); !ok || string(got) != k {
			t.Errorf("Get(%q) = %q, %v", k, got, ok)
		}
	}
}

// A crash mid-Put leaves only a temporary file, which Get never serves.
func TestTemporaryFilesIgnored(t *testing.T) {
	c, _ := newCache(t, "2026-03-10T12:00:00Z")
	folder := "hiro_transactions_2026-03-10"
	half := gz(t, []byte(`{"results":[1,2,3]}`))
	plant(t, c.dir, folder, ".k.123456.tmp", half[:len(half)/2])
	if _, ok := mustGet(t, c, "k"); ok {
		t.Fatal("Get served a temporary file")
	}
	u, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Files != 0 || u.TempFiles != 1 {
		t.Errorf("Usage = %+v, want 0 pages and 1 temporary file", u)
	}
	if err := c.Put("k", []byte("whole")); err != nil {
		t.Fatal(err)
	}
	if got, ok := mustGet(t, c, "k"); !ok || string(got) != "whole" {
		t.Errorf("Get = %q, %v", got, ok)
	}
	// Put leaves no temporary file of its own behind.
	entries, _ := os.ReadDir(filepath.Join(c.dir, folder))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".k.123456.tmp", "k.json.gz"}) {
		t.Errorf("folder holds %v", names)
	}
}

func TestCorruptFilesAreDeletedAndMissed(t *testing.T) {
	good := gz(t, []byte(`{"total":1,"results":[{"tx_id":"0x01"}]}`))
	flipCRC := slices.Clone(good)
	flipCRC[len(flipCRC)-8] ^= 0xff // CRC-32 field of the trailer
	flipLen := slices.Clone(good)
	flipLen[len(flipLen)-1] ^= 0x01 // ISIZE field of the trailer
	flipBody := slices.Clone(good)
	flipBody[len(flipBody)/2] ^= 0xff
	tests := map[string][]byte{
		"empty":            {},
		"not gzip":         []byte(`{"results":[]}`),
		"truncated header": good[:5],
		"truncated body":   good[:len(good)/2],
		"no trailer":       good[:len(good)-8],
		"bad CRC":          flipCRC,
		"bad length":       flipLen,
		"bad deflate data": flipBody,
		"trailing garbage": append(slices.Clone(good), "garbage!!!"...),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			for _, warm := range []bool{false, true} {
				c, _ := newCache(t, "2026-03-10T12:00:00Z")
				if warm {
					// Index built before the file goes bad.
					if err := c.Put("page", []byte("fine")); err != nil {
						t.Fatal(err)
					}
				}
				path := plant(t, c.dir, "hiro_transactions_2026-03-10", "page.json.gz", data)
				body, ok, err := c.Get("page")
				if ok || err != nil || body != nil {
					t.Fatalf("warm=%v: Get = %q, %v, %v; want a miss with no error", warm, body, ok, err)
				}
				if exists(path) {
					t.Errorf("warm=%v: corrupt file was not deleted", warm)
				}
				if _, ok := mustGet(t, c, "page"); ok {
					t.Errorf("warm=%v: second Get hit", warm)
				}
				if err := c.Put("page", []byte("refetched")); err != nil {
					t.Fatal(err)
				}
				if got, ok := mustGet(t, c, "page"); !ok || string(got) != "refetched" {
					t.Errorf("warm=%v: after re-Put Get = %q, %v", warm, got, ok)
				}
			}
		})
	}
	// The uncorrupted file decodes, so the cases above fail for the reason named.
	if _, err := gunzip(good); err != nil {
		t.Fatal(err)
	}
}

func TestNewestCopyWins(t *testing.T) {
	dir := t.TempDir()
	plant(t, dir, "hiro_transactions_2026-01-05", "k.json.gz", gz(t, []byte("oldest")))
	plant(t, dir, "hiro_transactions_2026-03-01", "k.json.gz", gz(t, []byte("newest")))
	plant(t, dir, "hiro_transactions_2026-02-11", "k.json.gz", gz(t, []byte("middle")))
	c := New(dir)
	if got, ok := mustGet(t, c, "k"); !ok || string(got) != "newest" {
		t.Errorf("Get = %q, %v; want the newest copy", got, ok)
	}

	// Put replaces: the new copy wins and the one it supersedes goes, even
	// when the clock has gone backwards.
	clk := &clock{t: day("2026-02-20T00:00:00Z")}
	c = newAt(dir, clk.Now)
	if err := c.Put("k", []byte("put")); err != nil {
		t.Fatal(err)
	}
	if got, ok := mustGet(t, c, "k"); !ok || string(got) != "put" {
		t.Errorf("Get after Put = %q, %v", got, ok)
	}
	if exists(filepath.Join(dir, "hiro_transactions_2026-03-01", "k.json.gz")) {
		t.Error("the superseded copy is still there")
	}
	if got, ok := mustGet(t, New(dir), "k"); !ok || string(got) != "put" {
		t.Errorf("fresh cache Get = %q, %v; want what Put wrote", got, ok)
	}
}

func TestDeleteRemovesAllCopies(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, d := range []string{"2026-01-01", "2026-01-02", "2026-01-03"} {
		paths = append(paths, plant(t, dir, FolderPrefix+d, "k.json.gz", gz(t, []byte(d))))
	}
	other := plant(t, dir, FolderPrefix+"2026-01-02", "other.json.gz", gz(t, []byte("o")))
	c := New(dir)
	if _, ok := mustGet(t, c, "k"); !ok {
		t.Fatal("setup: no hit")
	}
	if err := c.Delete("k"); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if exists(p) {
			t.Errorf("%s survived Delete", p)
		}
	}
	if !exists(other) {
		t.Error("Delete removed another key")
	}
	if _, ok := mustGet(t, c, "k"); ok {
		t.Error("Get hit after Delete")
	}
	if err := c.Delete("never-cached"); err != nil {
		t.Errorf("Delete of an absent key = %v", err)
	}
}

func TestUsage(t *testing.T) {
	c, clk := newCache(t, "2026-03-01T08:00:00Z")
	if u, err := c.Usage(); err != nil || u != (Usage{}) {
		t.Fatalf("Usage of a missing folder = %+v, %v; want zero", u, err)
	}
	var want Usage
	for i, d := range []string{"2026-03-01T08:00:00Z", "2026-03-01T09:00:00Z", "2026-03-04T00:00:00Z", "2026-02-27T23:59:59Z"} {
		clk.Set(day(d))
		key := fmt.Sprintf("p%d", i)
		if err := c.Put(key, bytes.Repeat([]byte{byte(i)}, 1000*(i+1))); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(c.dir, folderFor(day(d)), key+Ext))
		if err != nil {
			t.Fatal(err)
		}
		want.Files++
		want.Bytes += info.Size()
	}
	plant(t, c.dir, "hiro_transactions_2026-03-04", ".p9.1.tmp", []byte("12345"))
	plant(t, c.dir, "hiro_transactions_2026-03-04", "README", []byte("not ours"))
	plant(t, c.dir, "unrelated", "x.json.gz", gz(t, []byte("x")))
	want.Folders = 3
	want.TempFiles, want.TempBytes = 1, 5
	want.Oldest, want.Newest = day("2026-02-27T00:00:00Z"), day("2026-03-04T00:00:00Z")
	got, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Usage = %+v\nwant    %+v", got, want)
	}
	if got.TotalBytes() != want.Bytes+5 {
		t.Errorf("TotalBytes = %d", got.TotalBytes())
	}
}

// pruneFixture lays out a cache on a fixed "today" of 2026-03-10 12:00 UTC.
type pruneFixture struct {
	c     *Cache
	dir   string
	files map[string]int64 // path -> size of every page planted
}

func newPruneFixture(t *testing.T) *pruneFixture {
	clk := &clock{t: day("2026-03-10T12:00:00Z")}
	f := &pruneFixture{dir: t.TempDir(), files: map[string]int64{}}
	f.c = newAt(f.dir, clk.Now)
	for i, d := range []string{"2026-01-20", "2026-01-23", "2026-01-24", "2026-01-25", "2026-03-09", "2026-03-10"} {
		for j := range 2 {
			p := plant(t, f.dir, FolderPrefix+d, fmt.Sprintf("k%d_%d.json.gz", i, j), gz(t, bytes.Repeat([]byte{byte(i)}, 100*(i+j+1))))
			info, _ := os.Stat(p)
			f.files[p] = info.Size()
		}
	}
	return f
}

// size sums the planted pages of the given dates.
func (f *pruneFixture) size(dates ...string) (n int, bytes int64) {
	for p, s := range f.files {
		for _, d := range dates {
			if strings.Contains(p, FolderPrefix+d) {
				n++
				bytes += s
			}
		}
	}
	return n, bytes
}

func TestPruneByAge(t *testing.T) {
	all := []string{"2026-01-20", "2026-01-23", "2026-01-24", "2026-01-25", "2026-03-09", "2026-03-10"}
	tests := []struct {
		name    string
		maxAge  time.Duration
		cutoff  string
		pruned  []string
		oldest  string
		newest  string
		wantErr bool
	}{
		// 45 days before 2026-03-10 12:00 is 2026-01-24 12:00: 2026-01-24
		// still holds pages younger than that, 2026-01-23 does not.
		{"45 days", 45 * 24 * time.Hour, "2026-01-24", []string{"2026-01-20", "2026-01-23"}, "2026-01-24", "2026-03-10", false},
		{"45 days 13 hours", 45*24*time.Hour + 13*time.Hour, "2026-01-23", []string{"2026-01-20"}, "2026-01-23", "2026-03-10", false},
		{"zero keeps today", 0, "2026-03-10", all[:5], "2026-03-10", "2026-03-10", false},
		{"a year keeps all", 365 * 24 * time.Hour, "2025-03-10", nil, "2026-01-20", "2026-03-10", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newPruneFixture(t)
			before, err := f.c.Usage()
			if err != nil {
				t.Fatal(err)
			}
			// Warm the index so pruned keys must leave it.
			if _, ok := mustGet(t, f.c, "k0_0"); !ok {
				t.Fatal("setup: no hit")
			}
			var kept []string
			for _, d := range all {
				if !slices.Contains(tc.pruned, d) {
					kept = append(kept, d)
				}
			}
			wantFiles, wantBytes := f.size(tc.pruned...)
			keptFiles, keptBytes := f.size(kept...)

			for _, dry := range []bool{true, false} {
				r, err := f.c.Prune(tc.maxAge, dry)
				if err != nil {
					t.Fatalf("dry=%v: %v", dry, err)
				}
				if r.DryRun != dry || r.Cutoff != day(tc.cutoff+"T00:00:00Z") ||
					r.Files != wantFiles || r.Bytes != wantBytes || r.Folders != len(tc.pruned) ||
					r.Kept.Files != keptFiles || r.Kept.Bytes != keptBytes || r.Kept.Folders != len(kept) ||
					r.Kept.Oldest != day(tc.oldest+"T00:00:00Z") || r.Kept.Newest != day(tc.newest+"T00:00:00Z") {
					t.Errorf("dry=%v: report %+v\nwant files %d bytes %d folders %d, kept %d files %d bytes %d folders %s..%s, cutoff %s",
						dry, r, wantFiles, wantBytes, len(tc.pruned), keptFiles, keptBytes, len(kept), tc.oldest, tc.newest, tc.cutoff)
				}
				after, err := f.c.Usage()
				if err != nil {
					t.Fatal(err)
				}
				if dry {
					if after != before {
						t.Errorf("dry run changed the cache: %+v -> %+v", before, after)
					}
					continue
				}
				if after.Files != keptFiles || after.Bytes != keptBytes || after.Folders != len(kept) {
					t.Errorf("after prune Usage = %+v, want %d files %d bytes %d folders", after, keptFiles, keptBytes, len(kept))
				}
				for _, d := range tc.pruned {
					if exists(filepath.Join(f.dir, FolderPrefix+d)) {
						t.Errorf("folder %s survived", d)
					}
				}
			}
			_, ok := mustGet(t, f.c, "k0_0")
			if pruned := slices.Contains(tc.pruned, "2026-01-20"); ok == pruned {
				t.Errorf("Get(k0_0) hit=%v after prune, pruned=%v", ok, pruned)
			}
			if _, ok := mustGet(t, f.c, "k5_1"); !ok {
				t.Error("today's page is gone")
			}
		})
	}
	if _, err := New(t.TempDir()).Prune(-time.Hour, true); err == nil {
		t.Error("negative age accepted")
	}
	if r, err := New(filepath.Join(t.TempDir(), "missing")).Prune(time.Hour, false); err != nil || r.Files != 0 {
		t.Errorf("prune of a missing cache = %+v, %v", r, err)
	}
}

func TestPruneTemporaryAndForeignFiles(t *testing.T) {
	f := newPruneFixture(t)
	kept := FolderPrefix + "2026-03-09"
	stale := plant(t, f.dir, kept, ".k.1.tmp", []byte("stale"))
	old := time.Now().Add(-2 * StaleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	fresh := plant(t, f.dir, kept, ".k.2.tmp", []byte("in progress"))
	expiredTmp := plant(t, f.dir, FolderPrefix+"2026-01-20", ".k.3.tmp", []byte("x"))
	foreign := plant(t, f.dir, FolderPrefix+"2026-01-23", "notes.txt", []byte("mine"))
	unrelated := plant(t, f.dir, "hiro_transactions_latest", "k.json.gz", gz(t, []byte("x")))
	if err := os.MkdirAll(filepath.Join(f.dir, FolderPrefix+"2026-02-01"), 0o755); err != nil { // empty, not expired
		t.Fatal(err)
	}
	today := filepath.Join(f.dir, FolderPrefix+"2026-03-10")
	for _, name := range []string{"k5_0.json.gz", "k5_1.json.gz"} {
		os.Remove(filepath.Join(today, name)) // today's folder, now empty
	}

	r, err := f.c.Prune(45*24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.TempFiles != 2 || r.TempBytes != int64(len("stale")+len("x")) {
		t.Errorf("temporary files deleted: %d (%d bytes), want 2", r.TempFiles, r.TempBytes)
	}
	// 2026-01-20 (expired) and 2026-02-01 (empty) go; 2026-01-23 stays for notes.txt.
	if r.Folders != 2 {
		t.Errorf("folders removed = %d, want 2", r.Folders)
	}
	for path, want := range map[string]bool{
		stale: false, fresh: true, expiredTmp: false, foreign: true, unrelated: true, today: true,
		filepath.Join(f.dir, FolderPrefix+"2026-02-01"): false,
		filepath.Join(f.dir, FolderPrefix+"2026-01-20"): false,
	} {
		if exists(path) != want {
			t.Errorf("%s exists=%v, want %v", path, !want, want)
		}
	}
	if r.Kept.TempFiles != 1 {
		t.Errorf("kept temporary files = %d, want 1", r.Kept.TempFiles)
	}
}

func TestReportString(t *testing.T) {
	r := PruneReport{DryRun: true, Cutoff: day("2026-01-24T00:00:00Z"), Files: 3, Bytes: 1536, Folders: 1,
		Kept: Usage{Files: 2, Bytes: 10, Oldest: day("2026-01-24T00:00:00Z"), Newest: day("2026-03-10T00:00:00Z")}}
	want := "would delete 3 page files (1.5 KiB) fetched before 2026-01-24, 0 stale temporary files (0 B) and 1 folder; kept 2 files (10 B) fetched 2026-01-24 to 2026-03-10"
	if got := r.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 30: "5.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// Concurrent Puts, Gets, Deletes and Prunes must be race-free (go test
// -race) and every Get must see a whole page.
func TestConcurrentUse(t *testing.T) {
	c, _ := newCache(t, "2026-03-10T12:00:00Z")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				key := fmt.Sprintf("k%d", i%10)
				body := []byte(strings.Repeat(key, 100))
				switch (g + i) % 5 {
				case 0, 1:
					if err := c.Put(key, body); err != nil {
						t.Error(err)
					}
				case 2, 3:
					got, ok, err := c.Get(key)
					if err != nil {
						t.Error(err)
					}
					if ok && !bytes.Equal(got, body) {
						t.Errorf("Get(%s) returned a torn page", key)
					}
				case 4:
					if i%10 == 4 {
						if _, err := c.Prune(24*time.Hour, false); err != nil {
							t.Error(err)
						}
					} else if err := c.Delete(key); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkPut(b *testing.B) {
	c := New(b.TempDir())
	body := bytes.Repeat([]byte(`{"tx_id":"0x0123456789abcdef","fee_rate":"180"},`), 1000)
	b.SetBytes(int64(len(body)))
	for i := 0; b.Loop(); i++ {
		if err := c.Put(fmt.Sprintf("p%d", i), body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	c := New(b.TempDir())
	body := bytes.Repeat([]byte(`{"tx_id":"0x0123456789abcdef","fee_rate":"180"},`), 1000)
	for i := range 100 {
		if err := c.Put(fmt.Sprintf("p%d", i), body); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(body)))
	for i := 0; b.Loop(); i++ {
		if _, ok, err := c.Get(fmt.Sprintf("p%d", i%100)); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
