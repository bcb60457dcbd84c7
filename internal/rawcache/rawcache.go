// Package rawcache keeps fetched API pages on disk, so a later run can read
// a final window's pages instead of requesting them and the database can be
// rebuilt without requesting its final pages again (docs/design.md#raw-cache).
//
// Layout: <dir>/hiro_transactions_<UTC fetch date YYYY-MM-DD>/<key>.json.gz,
// one gzip file per page, written and read with github.com/klauspost/compress
// (plain gzip, several times faster than compress/gzip). A page is written
// with package atomicfile (a hidden temporary file in the same folder,
// renamed), so a killed process never leaves a half-written file under a
// final name; Get ignores temporary files and Prune removes stale ones.
// Pages are not fsynced: a page damaged by a power loss fails its gzip
// CRC, is deleted and fetched again, and two fsyncs a page cost more than
// the rest of the write (about 5 ms a page on a cloud disk, minutes over a
// year of pages).
//
// When a key has copies in several folders the newest fetch date wins. A
// file that fails to decompress or fails its CRC check is deleted and
// reported as a miss, so the caller fetches the page again.
package rawcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/stxwallets/walletcache/internal/atomicfile"
)

const (
	// FolderPrefix starts the name of every fetch-date folder.
	FolderPrefix = "hiro_transactions_"
	// Ext ends the name of every cached page.
	Ext = ".json.gz"
	// dateLayout is the fetch date in folder names.
	dateLayout = "2006-01-02"
	// MaxKeyLen keeps file names under the usual 255-byte limit once the
	// temporary-name decoration is added.
	MaxKeyLen = 200
	// StaleTemp is how old a temporary file must be before Prune removes
	// it: younger ones may belong to a Put still in progress.
	StaleTemp = time.Hour
)

// ErrBadKey is wrapped by every error about a key that cannot name a file.
var ErrBadKey = errors.New("rawcache: bad key")

// Cache is a folder of cached pages. It is safe for concurrent use by
// several goroutines of one process.
type Cache struct {
	dir string
	// now dates new pages and ages old ones; tests replace it to write
	// pages "on" chosen days.
	now func() time.Time

	mu sync.Mutex
	// index tells which folder holds each key's newest copy. It is built
	// by one scan on first use, so a Get is a map lookup and one file read.
	index *folderIndex
}

// folderIndex maps a key, by a 64-bit hash of it, to the folder holding
// its newest copy. It holds no key: a year of v1 pages is 157k keys, 18 MB
// of Go heap as a map of strings and 4.7 MB as hashes. Two keys that share a
// hash share an entry; that can only cost a miss, never a wrong page,
// since every file is opened by the path of the key asked for: Get then
// finds no file where the entry points (a miss, and the entry is
// forgotten), Put removes an older copy of its own key that is not there,
// and Has may say yes for a page that Get will miss.
type folderIndex struct {
	seed    maphash.Seed
	folders map[uint64]uint32 // key hash -> position in names
	names   []string
	pos     map[string]uint32 // name -> position
}

func newFolderIndex() *folderIndex {
	return &folderIndex{seed: maphash.MakeSeed(), folders: map[uint64]uint32{}, pos: map[string]uint32{}}
}

func (x *folderIndex) hash(key string) uint64 { return maphash.String(x.seed, key) }

// get is the folder of key's newest copy.
func (x *folderIndex) get(key string) (string, bool) {
	i, ok := x.folders[x.hash(key)]
	if !ok {
		return "", false
	}
	return x.names[i], true
}

// set records that folder holds key's newest copy.
func (x *folderIndex) set(key, folder string) {
	i, ok := x.pos[folder]
	if !ok {
		i = uint32(len(x.names))
		x.names = append(x.names, folder)
		x.pos[folder] = i
	}
	x.folders[x.hash(key)] = i
}

// forget drops key's entry when it points at folder ("" for any).
func (x *folderIndex) forget(key, folder string) {
	h := x.hash(key)
	if i, ok := x.folders[h]; ok && (folder == "" || x.names[i] == folder) {
		delete(x.folders, h)
	}
}

// New returns a cache rooted at dir. Nothing is created until the first Put.
func New(dir string) *Cache {
	return &Cache{dir: dir, now: time.Now}
}

// ValidKey reports whether key can name a cached page: 1 to MaxKeyLen
// letters, digits, '_', '-' and '.', not starting with '.' (temporary
// files do). Keys never hold path separators, so a key cannot escape the
// cache folder.
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrBadKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes long, at most %d allowed", ErrBadKey, len(key), MaxKeyLen)
	}
	if key[0] == '.' {
		return fmt.Errorf("%w %q: must not start with '.'", ErrBadKey, key)
	}
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return fmt.Errorf("%w %q: only letters, digits, '_', '-' and '.' are allowed", ErrBadKey, key)
		}
	}
	return nil
}

// folderFor names the folder of pages fetched at t.
func folderFor(t time.Time) string {
	return FolderPrefix + t.UTC().Format(dateLayout)
}

// folderDate parses a folder name; ok is false for anything else.
func folderDate(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, FolderPrefix)
	if !ok || len(rest) != len(dateLayout) {
		return time.Time{}, false
	}
	d, err := time.Parse(dateLayout, rest)
	return d, err == nil
}

// pageKey returns the key of a page file name; ok is false for temporary
// files and anything else that is not a page.
func pageKey(name string) (string, bool) {
	key, ok := strings.CutSuffix(name, Ext)
	if !ok || ValidKey(key) != nil {
		return "", false
	}
	return key, true
}

// folders lists the fetch-date folders, oldest first. A missing root is an
// empty cache.
func (c *Cache) folders() ([]string, error) {
	entries, err := os.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rawcache: list %s: %w", c.dir, err)
	}
	var out []string
	for _, e := range entries {
		if _, ok := folderDate(e.Name()); ok && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	// YYYY-MM-DD sorts by date as text.
	sort.Strings(out)
	return out, nil
}

// loadIndex builds the index once. The caller holds c.mu.
func (c *Cache) loadIndex() error {
	if c.index != nil {
		return nil
	}
	folders, err := c.folders()
	if err != nil {
		return err
	}
	index := newFolderIndex()
	err = c.eachPage(folders, func(key, folder string) {
		index.set(key, folder) // oldest first: a newer folder overwrites
	})
	if err != nil {
		return err
	}
	c.index = index
	return nil
}

// eachPage calls fn with every page file's key in folders, in their order
// (a folder's files in no order). It reads a folder's listing a thousand
// entries at a time: a year of pages in one folder is 157k entries, some
// 20 MB as one listing.
func (c *Cache) eachPage(folders []string, fn func(key, folder string)) error {
	for _, folder := range folders {
		if err := c.eachPageIn(folder, fn); err != nil {
			return fmt.Errorf("rawcache: list %s: %w", folder, err)
		}
	}
	return nil
}

func (c *Cache) eachPageIn(folder string, fn func(key, folder string)) error {
	d, err := os.Open(filepath.Join(c.dir, folder))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // pruned since the folders were listed
	}
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		entries, err := d.ReadDir(1024)
		for _, e := range entries {
			if key, ok := pageKey(e.Name()); ok && e.Type().IsRegular() {
				fn(key, folder)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (c *Cache) path(folder, key string) string {
	return filepath.Join(c.dir, folder, key+Ext)
}

// Put stores body under key in today's (UTC, by the cache's clock) folder,
// replacing any older copy. The write is atomic for a killed process: a
// temporary file in the same folder is written and renamed, so either the
// old state or the whole new file is there. After a power loss a page may
// be damaged; Get's CRC check then deletes it.
func (c *Cache) Put(key string, body []byte) error {
	f, folder, err := c.writePage(key, body)
	if err != nil {
		return err
	}
	defer f.Abort() // removes the temporary file unless committed
	return c.place(key, folder, f.CommitNoSync)
}

// Stage writes body as Put would, under a temporary name in today's
// folder that Get does not see, and returns that name for Place or
// Discard: a page that must wait before it may be cached (a v1 page waits
// for its window's verdict) waits on disk, not in memory. A process
// killed meanwhile leaves the file for Prune, like any temporary file.
func (c *Cache) Stage(key string, body []byte) (string, error) {
	f, _, err := c.writePage(key, body)
	if err != nil {
		return "", err
	}
	tmp, err := f.Detach()
	if err != nil {
		return "", fmt.Errorf("rawcache: stage %s: %w", key, err)
	}
	return tmp, nil
}

// Place makes the page Stage wrote under staged key's newest copy, in the
// folder it was staged in, as Put would have.
func (c *Cache) Place(key, staged string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	folder, ok := c.stagedFolder(staged)
	if !ok {
		return fmt.Errorf("rawcache: place %s: %s is no staged page of this cache", key, staged)
	}
	final := c.path(folder, key)
	return c.place(key, folder, func() error { return os.Rename(staged, final) })
}

// Discard removes a page Stage wrote, which is then never served.
func (c *Cache) Discard(staged string) {
	if _, ok := c.stagedFolder(staged); ok {
		os.Remove(staged) // a staged file already gone is as good as removed
	}
}

// stagedFolder is the folder of a name Stage returned: a temporary file
// directly in one of the cache's folders.
func (c *Cache) stagedFolder(staged string) (string, bool) {
	dir, name := filepath.Split(staged)
	folder := filepath.Base(dir)
	if _, ok := folderDate(folder); !ok || !atomicfile.IsTemp(name) || filepath.Clean(dir) != filepath.Join(c.dir, folder) {
		return "", false
	}
	return folder, true
}

// writePage compresses body into a temporary file in today's folder.
func (c *Cache) writePage(key string, body []byte) (*atomicfile.File, string, error) {
	if err := ValidKey(key); err != nil {
		return nil, "", err
	}
	p := packers.Get().(*packer)
	defer packers.Put(p)
	packed, err := p.pack(key, body)
	if err != nil {
		return nil, "", err
	}
	folder := folderFor(c.now())
	f, err := c.writeTemp(filepath.Join(c.dir, folder), c.path(folder, key), key, packed)
	if err != nil {
		return nil, "", err
	}
	return f, folder, nil
}

// place renames a written page into folder with rename and records it
// as key's newest copy, removing an older one.
func (c *Cache) place(key, folder string, rename func() error) error {
	c.mu.Lock()
	// The index tells which older copy this page replaces.
	if err := c.loadIndex(); err != nil {
		c.mu.Unlock()
		return err
	}
	// Renaming under the lock orders it against Get's deletion of a
	// corrupt copy, which must never remove a file that replaced it.
	if err := rename(); err != nil {
		c.mu.Unlock()
		return fmt.Errorf("rawcache: put %s: %w", key, err)
	}
	var older string
	if prev, ok := c.index.get(key); ok && prev != folder {
		older = c.path(prev, key)
	}
	c.index.set(key, folder)
	c.mu.Unlock()

	if older != "" {
		// The older copy is superseded; leaving it would only cost disk
		// until Prune. Failing to remove it is harmless: the newest wins.
		os.Remove(older)
	}
	return nil
}

// pack compresses body into the file Put stores under key, in p's buffer:
// valid until p packs again.
func (p *packer) pack(key string, body []byte) ([]byte, error) {
	p.buf.Reset()
	p.zw.Reset(&p.buf)
	p.zw.Name = key + ".json"
	if _, err := p.zw.Write(body); err != nil {
		return nil, fmt.Errorf("rawcache: put %s: %w", key, err)
	}
	if err := p.zw.Close(); err != nil {
		return nil, fmt.Errorf("rawcache: put %s: %w", key, err)
	}
	return p.buf.Bytes(), nil
}

// packer is a gzip writer and its output buffer, reused across pages: a
// writer holds hundreds of kilobytes of compressor state, and every page of
// a run is packed.
type packer struct {
	zw  *gzip.Writer
	buf bytes.Buffer
}

// packers are the packers not in use. The fastest level: it writes a page
// three times faster than the standard library's default level, for files
// about 14 % larger, and every page of a run passes through here.
var packers = sync.Pool{New: func() any {
	zw, err := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	if err != nil {
		panic(err) // BestSpeed is a valid level
	}
	return &packer{zw: zw}
}}

// writeTemp writes a packed page into a temporary file for final in
// dirPath, ready to commit.
func (c *Cache) writeTemp(dirPath, final, key string, packed []byte) (*atomicfile.File, error) {
	var f *atomicfile.File
	var err error
	// Prune may remove an empty folder between MkdirAll and Create; one
	// retry recreates it.
	for attempt := 0; attempt < 2; attempt++ {
		if err = os.MkdirAll(dirPath, 0o755); err != nil {
			return nil, fmt.Errorf("rawcache: put %s: %w", key, err)
		}
		f, err = atomicfile.Create(final, 0o644)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("rawcache: put %s: %w", key, err)
	}
	if _, err := f.Write(packed); err != nil {
		f.Abort()
		return nil, fmt.Errorf("rawcache: put %s: %w", key, err)
	}
	return f, nil
}

// Has reports whether a page is stored under key, without reading it: a
// plan can tell which units the cache could serve whole.
func (c *Cache) Has(key string) (bool, error) {
	if err := ValidKey(key); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.loadIndex(); err != nil {
		return false, err
	}
	_, ok := c.index.get(key)
	return ok, nil
}

// Get returns the newest copy of key. ok is false when there is none. A
// copy that fails to decode (bad gzip header, truncated, CRC or length
// mismatch) is deleted and reported as a miss with a nil error; err is set
// only for real I/O failures and bad keys.
func (c *Cache) Get(key string) (body []byte, ok bool, err error) {
	if err := ValidKey(key); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	if err := c.loadIndex(); err != nil {
		c.mu.Unlock()
		return nil, false, err
	}
	folder, found := c.index.get(key)
	c.mu.Unlock()
	if !found {
		return nil, false, nil
	}
	path := c.path(folder, key)

	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted behind our back (another process's prune).
		c.forget(key, folder)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("rawcache: get %s: %w", key, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, false, fmt.Errorf("rawcache: get %s: %w", key, err)
	}
	body, derr := gunzip(raw)
	if derr == nil {
		return body, true, nil
	}

	// Corrupt. Delete it, unless a Put has replaced it since we opened it.
	c.mu.Lock()
	defer c.mu.Unlock()
	opened, err1 := f.Stat()
	current, err2 := os.Stat(path)
	if err1 == nil && err2 == nil && os.SameFile(opened, current) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("rawcache: get %s: remove corrupt copy: %w", key, err)
		}
		if c.index != nil {
			c.index.forget(key, folder)
		}
	}
	return nil, false, nil
}

// readers keeps gzip readers for reuse: each holds tens of kilobytes of
// decompressor state, and a rebuild reads thousands of pages.
var readers sync.Pool

// gunzip decodes a whole gzip file, checking its CRC and length. The
// buffer is sized from the length the gzip trailer records (bounded, since
// the file may be damaged), so a page is decompressed without regrowing.
func gunzip(raw []byte) ([]byte, error) {
	zr, _ := readers.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(raw))
	} else {
		err = zr.Reset(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, err
	}
	defer readers.Put(zr)
	var buf bytes.Buffer
	if len(raw) >= 4 {
		const most = 16 << 20 // well above any page the client accepts
		buf.Grow(int(min(binary.LittleEndian.Uint32(raw[len(raw)-4:]), most)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(zr); err != nil {
		return nil, err
	}
	return buf.Bytes(), zr.Close()
}

// forget drops key from the index if it still points at folder.
func (c *Cache) forget(key, folder string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index != nil {
		c.index.forget(key, folder)
	}
}

// Delete removes every copy of key, in all folders. Deleting a key that is
// not cached is not an error.
func (c *Cache) Delete(key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	folders, err := c.folders()
	if err != nil {
		return err
	}
	var errs []error
	for _, folder := range folders {
		if err := os.Remove(c.path(folder, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if c.index != nil {
		c.index.forget(key, "")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rawcache: delete %s: %w", key, err)
	}
	return nil
}

// Usage is what the cache holds on disk.
type Usage struct {
	Files     int       // cached pages
	Bytes     int64     // their size on disk (compressed)
	Folders   int       // fetch-date folders
	TempFiles int       // temporary files (a Put in progress, or left by a crash)
	TempBytes int64     // their size on disk
	Oldest    time.Time // fetch date of the oldest folder holding a page; zero when empty
	Newest    time.Time // fetch date of the newest folder holding a page; zero when empty
}

// TotalBytes is the disk the cache uses, temporary files included.
func (u Usage) TotalBytes() int64 { return u.Bytes + u.TempBytes }

// addPage counts one page file fetched on date.
func (u *Usage) addPage(date time.Time, size int64) {
	u.Files++
	u.Bytes += size
	if u.Oldest.IsZero() || date.Before(u.Oldest) {
		u.Oldest = date
	}
	if date.After(u.Newest) {
		u.Newest = date
	}
}

// Usage counts the cache's files and bytes. A missing cache folder is an
// empty cache.
func (c *Cache) Usage() (Usage, error) {
	var u Usage
	folders, err := c.folders()
	if err != nil {
		return u, err
	}
	for _, folder := range folders {
		date, _ := folderDate(folder)
		entries, err := os.ReadDir(filepath.Join(c.dir, folder))
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned while we looked
		}
		if err != nil {
			return u, fmt.Errorf("rawcache: usage: %w", err)
		}
		u.Folders++
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue // removed while we looked, or not ours
			}
			if _, ok := pageKey(e.Name()); ok {
				u.addPage(date, info.Size())
			} else if atomicfile.IsTemp(e.Name()) {
				u.TempFiles++
				u.TempBytes += info.Size()
			}
		}
	}
	return u, nil
}

// PruneReport says what Prune deleted, or would delete on a dry run, and
// what is left.
type PruneReport struct {
	DryRun bool
	// Cutoff: folders dated before it hold only pages fetched more than
	// maxAge ago, and are pruned.
	Cutoff    time.Time
	Files     int   // page files deleted
	Bytes     int64 // their size on disk
	TempFiles int   // stale temporary files deleted
	TempBytes int64 // their size on disk
	Folders   int   // folders removed (expired or empty)
	Kept      Usage // what remains afterwards (on a dry run: what would remain)
}

// String reports the prune in one line, for the `prune` command.
func (r PruneReport) String() string {
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	s := fmt.Sprintf("%s %s (%s) fetched before %s, %s (%s) and %s; kept %s (%s)",
		verb, count(r.Files, "page file"), HumanBytes(r.Bytes), r.Cutoff.Format(dateLayout), count(r.TempFiles, "stale temporary file"),
		HumanBytes(r.TempBytes), count(r.Folders, "folder"), count(r.Kept.Files, "file"), HumanBytes(r.Kept.Bytes))
	if r.Kept.Files > 0 {
		s += fmt.Sprintf(" fetched %s to %s", r.Kept.Oldest.Format(dateLayout), r.Kept.Newest.Format(dateLayout))
	}
	return s
}

// count is n things, the noun in the plural unless n is 1.
func count[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// HumanBytes prints a size with a binary unit: 0 B, 1.5 KiB, 2.0 GiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Prune deletes the pages whose fetch date (folder name) is more than
// maxAge ago, stale temporary files (older than StaleTemp) anywhere, and
// folders left empty, except today's. Temporary files are aged by their
// modification time against the real clock, since that is what stamped them. A folder is expired when every page
// it can hold is older than maxAge: its date plus one day is at or before
// now minus maxAge. With dryRun nothing is deleted and the report says
// what would be. Files in the folders that are not the cache's are never
// touched, so a folder holding them stays.
func (c *Cache) Prune(maxAge time.Duration, dryRun bool) (PruneReport, error) {
	if maxAge < 0 {
		return PruneReport{}, fmt.Errorf("rawcache: prune: negative age %s", maxAge)
	}
	now := c.now().UTC()
	limit := now.Add(-maxAge)
	r := PruneReport{DryRun: dryRun, Cutoff: limit.Truncate(24 * time.Hour)}
	today := folderFor(now)

	// Hold the lock throughout so Put's renames and Get's index stay
	// consistent with what is removed.
	c.mu.Lock()
	defer c.mu.Unlock()
	folders, err := c.folders()
	if err != nil {
		return r, err
	}
	var errs []error
	remove := func(path string) bool {
		if dryRun {
			return true
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			return false
		}
		return true
	}
	for _, folder := range folders {
		date, _ := folderDate(folder)
		expired := !date.Add(24 * time.Hour).After(limit)
		dirPath := filepath.Join(c.dir, folder)
		entries, err := os.ReadDir(dirPath)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		left := 0 // entries that stay in the folder
		var kept Usage
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue // removed while we looked
			}
			name := e.Name()
			key, isPage := pageKey(name)
			switch {
			case isPage && info.Mode().IsRegular() && expired:
				if remove(filepath.Join(dirPath, name)) {
					r.Files++
					r.Bytes += info.Size()
					if !dryRun && c.index != nil {
						c.index.forget(key, folder)
					}
					continue
				}
			case atomicfile.IsTemp(name) && info.Mode().IsRegular() && (expired || time.Since(info.ModTime()) > StaleTemp):
				if remove(filepath.Join(dirPath, name)) {
					r.TempFiles++
					r.TempBytes += info.Size()
					continue
				}
			}
			left++
			if isPage && info.Mode().IsRegular() {
				kept.addPage(date, info.Size())
			} else if atomicfile.IsTemp(name) {
				kept.TempFiles++
				kept.TempBytes += info.Size()
			}
		}
		if left == 0 && folder != today {
			if dryRun {
				r.Folders++
				continue
			}
			if err := os.Remove(dirPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
				// A Put that crossed midnight may have just created a file
				// here; that is no failure, the folder simply stays.
				if again, rerr := os.ReadDir(dirPath); rerr != nil || len(again) == 0 {
					errs = append(errs, err)
				}
			} else {
				r.Folders++
				continue
			}
		}
		r.Kept.Folders++
		r.Kept.Files += kept.Files
		r.Kept.Bytes += kept.Bytes
		r.Kept.TempFiles += kept.TempFiles
		r.Kept.TempBytes += kept.TempBytes
		if kept.Files > 0 {
			if r.Kept.Oldest.IsZero() || kept.Oldest.Before(r.Kept.Oldest) {
				r.Kept.Oldest = kept.Oldest
			}
			if kept.Newest.After(r.Kept.Newest) {
				r.Kept.Newest = kept.Newest
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("rawcache: prune: %w", err)
	}
	return r, nil
}
