package rawcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/stxwallets/walletcache/internal/atomicfile"
)

// Records are small files at the cache's root that describe the pages
// rather than hold them (the backfill's last tip and its height lookups,
// so that it can plan a rebuild without the network). Like the chain
// anchor they are outside every fetch-date folder, so Prune never touches
// them, and they are replaced atomically.

// ReadRecord returns the record called name; ok is false when there is none.
func (c *Cache) ReadRecord(name string) (body []byte, ok bool, err error) {
	if err := ValidKey(name); err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("rawcache: read %s: %w", name, err)
	}
	return b, true, nil
}

// WriteRecord replaces the record called name with body, atomically: after
// a crash either the old record or the whole new one is there.
func (c *Cache) WriteRecord(name string, body []byte) error {
	if err := ValidKey(name); err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("rawcache: write %s: %w", name, err)
	}
	if err := atomicfile.Write(filepath.Join(c.dir, name), body, 0o644); err != nil {
		return fmt.Errorf("rawcache: write %s: %w", name, err)
	}
	return nil
}

// EachKey calls fn with the key of every cached page, in no order, a key
// with copies in several folders once for each. It reads folder listings
// only, never a page, and holds no list: a planner reading a year of keys
// keeps only what it makes of them. It takes no lock (it reads no index),
// so pages written meanwhile may or may not be listed.
func (c *Cache) EachKey(fn func(key string)) error {
	folders, err := c.folders()
	if err != nil {
		return err
	}
	return c.eachPage(folders, func(key, _ string) { fn(key) })
}

// Keys lists the keys of every cached page, sorted, each once (EachKey
// collected), cheap enough for status.
func (c *Cache) Keys() ([]string, error) {
	var keys []string
	if err := c.EachKey(func(key string) { keys = append(keys, key) }); err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return slices.Compact(keys), nil
}
