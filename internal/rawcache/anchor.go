package rawcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stxwallets/walletcache/internal/atomicfile"
)

// anchorFile, at the cache's root, names the chain its pages came from.
// Prune never touches it: it is not in a fetch-date folder.
const anchorFile = "chain.json"

// anchor is the content of anchorFile: a block deep enough to be final on
// the chain that filled the cache, and its hash.
type anchor struct {
	Height int64  `json:"height"`
	Hash   string `json:"hash"`
}

// ChainAnchor returns the block that identifies the chain the cached pages
// came from; ok is false for a cache that has none yet.
func (c *Cache) ChainAnchor() (height int64, hash string, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(c.dir, anchorFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("rawcache: read the chain anchor: %w", err)
	}
	var a anchor
	if err := json.Unmarshal(b, &a); err != nil || a.Hash == "" {
		return 0, "", false, fmt.Errorf("rawcache: %s is not a chain anchor; delete it only if every page under %s is from the chain you back-fill", filepath.Join(c.dir, anchorFile), c.dir)
	}
	return a.Height, a.Hash, true, nil
}

// SetChainAnchor records the block that identifies the cache's chain.
func (c *Cache) SetChainAnchor(height int64, hash string) error {
	b, err := json.Marshal(anchor{Height: height, Hash: hash})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("rawcache: record the chain anchor: %w", err)
	}
	err = atomicfile.Write(filepath.Join(c.dir, anchorFile), b, 0o644)
	if err != nil {
		return fmt.Errorf("rawcache: record the chain anchor: %w", err)
	}
	return nil
}
