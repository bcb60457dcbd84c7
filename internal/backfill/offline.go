package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// An offline run (Config.Offline) rebuilds from the raw cache alone: it
// sends no request at all. Pages are not enough for that: a run also needs
// the chain tip (the final edge follows from it) and, for v3, the heights
// its by-block-time lookups answered. Every online iteration therefore
// leaves both in the raw cache, in one record next to the chain anchor;
// an offline run reads them back instead of asking the server.

// OfflineRecordName is the raw-cache record that holds what an offline run
// plans from.
const OfflineRecordName = "offline.json"

// maxRecordedBlocks bounds the height lookups kept in the record: a run
// asks a handful, and only those near the horizon's edges are ever useful.
const maxRecordedBlocks = 4096

// recordKeeper is a raw cache that can hold small records beside its pages.
type recordKeeper interface {
	ReadRecord(name string) ([]byte, bool, error)
	WriteRecord(name string, body []byte) error
}

// offlineRecord is the content of OfflineRecordName.
type offlineRecord struct {
	// SavedAt is when an online iteration last wrote it.
	SavedAt time.Time `json:"saved_at"`
	// Source is the API source that iteration used: an offline run with
	// api auto plans with it, since it cannot probe.
	Source string `json:"source"`
	Tip    struct {
		Height        int64 `json:"height"`
		BurnHeight    int64 `json:"burn_height"`
		BurnBlockTime int64 `json:"burn_block_time"`
		BlockTime     int64 `json:"block_time"`
		Blocks        int64 `json:"blocks"`
	} `json:"tip"`
	// NewestBurnTime is the newest transaction the server served then;
	// Served is false when it served none.
	NewestBurnTime int64 `json:"newest_burn_time"`
	Served         bool  `json:"served"`
	// Blocks are blocks the by-block-time lookups answered, by height.
	Blocks []recordedBlock `json:"blocks"`
}

// recordedBlock is one answer of a by-block-time lookup.
type recordedBlock struct {
	Height        int64 `json:"height"`
	BlockTime     int64 `json:"block_time"`
	BurnHeight    int64 `json:"burn_height"`
	BurnBlockTime int64 `json:"burn_block_time"`
}

func (r *offlineRecord) tip() hiro.Tip {
	return hiro.Tip{Height: r.Tip.Height, BurnHeight: r.Tip.BurnHeight, BurnBlockTime: time.Unix(r.Tip.BurnBlockTime, 0).UTC(),
		BlockTime: time.Unix(r.Tip.BlockTime, 0).UTC(), Blocks: r.Tip.Blocks}
}

// blockAt answers a by-block-time lookup from the recorded blocks: the
// newest one whose block time is at or before unix. For a time an online
// run asked about, that is the server's answer; for another it may be an
// older block, which only widens the walk below a gap (what a walk proves
// rests on the rows it read, never on a lookup). No such block reads as
// hiro.ErrBlockNotFound: the walk then goes to the bottom of the chain.
func (r *offlineRecord) blockAt(unix int64) (hiro.BlockRef, error) {
	var best *recordedBlock
	for i := range r.Blocks {
		b := &r.Blocks[i]
		if b.BlockTime <= unix && (best == nil || b.Height > best.Height) {
			best = b
		}
	}
	if best == nil {
		return hiro.BlockRef{}, fmt.Errorf("block at time %d, from the raw cache: %w", unix, hiro.ErrBlockNotFound)
	}
	return hiro.BlockRef{Height: best.Height, BlockTime: time.Unix(best.BlockTime, 0).UTC(),
		BurnBlockHeight: best.BurnHeight, BurnBlockTime: time.Unix(best.BurnBlockTime, 0).UTC()}, nil
}

// learn adds the blocks lookups answered, one per height, and keeps the
// newest maxRecordedBlocks; blocks older than the horizon's start by more
// than a week are dropped, but for the newest of them (it still bounds a
// lookup at the horizon's start from below).
func (r *offlineRecord) learn(blocks []recordedBlock, horizonStart int64) {
	byHeight := map[int64]recordedBlock{}
	for _, b := range append(r.Blocks, blocks...) {
		byHeight[b.Height] = b
	}
	all := make([]recordedBlock, 0, len(byHeight))
	for _, b := range byHeight {
		all = append(all, b)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Height < all[j].Height })
	cutoff := horizonStart - 7*24*3600
	first := 0
	for first+1 < len(all) && all[first+1].BlockTime < cutoff {
		first++
	}
	all = all[first:]
	if len(all) > maxRecordedBlocks {
		all = all[len(all)-maxRecordedBlocks:]
	}
	r.Blocks = all
}

// readOfflineRecord reads the record of cache; ok is false when the cache
// keeps none (no cache, or no online iteration has ended yet).
func readOfflineRecord(cache PageCache) (rec offlineRecord, ok bool, err error) {
	k, can := cache.(recordKeeper)
	if !can {
		return rec, false, nil
	}
	b, ok, err := k.ReadRecord(OfflineRecordName)
	if err != nil || !ok {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Tip.BurnBlockTime == 0 {
		return rec, false, fmt.Errorf("the raw cache's %s is not a record of the last tip (%v): run one backfill online to rewrite it", OfflineRecordName, err)
	}
	return rec, true, nil
}

// lookupLog collects the by-block-time answers of an online run, for the
// record.
type lookupLog struct {
	mu     sync.Mutex
	blocks []recordedBlock
}

func (l *lookupLog) add(ref hiro.BlockRef) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocks = append(l.blocks, recordedBlock{Height: ref.Height, BlockTime: ref.BlockTime.Unix(),
		BurnHeight: ref.BurnBlockHeight, BurnBlockTime: ref.BurnBlockTime.Unix()})
}

func (l *lookupLog) take() []recordedBlock {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.blocks
	l.blocks = nil
	return b
}

// blockAtTime is the lookup the v3 planner uses: the server's answer
// online (logged for the record), the record's offline.
func (r *run) blockAtTime(ctx context.Context, api CursorAPI, unix int64) (hiro.BlockRef, error) {
	if r.cfg.Offline {
		return r.offline.blockAt(unix)
	}
	ref, err := api.BlockAtTime(ctx, unix)
	if err == nil {
		r.lookups.add(ref)
	}
	return ref, err
}

// keepRecord leaves, after an online iteration, what an offline run needs
// besides the pages: the tip the iteration planned on, the newest served
// transaction, the source, and the heights its lookups answered. A record
// that cannot be written is a warning: online runs do not need it.
func (r *run) keepRecord(it *Iteration, src Source, newest int64, served bool) {
	k, ok := r.cfg.Cache.(recordKeeper)
	if !ok || r.cfg.Offline || (src.Name() != SourceV1 && src.Name() != SourceV3) {
		return
	}
	rec := r.offline
	rec.SavedAt, rec.Source = r.cfg.Now().UTC(), src.Name()
	rec.Tip.Height, rec.Tip.BurnHeight, rec.Tip.Blocks = it.Tip.Height, it.Tip.BurnHeight, it.Tip.Blocks
	rec.Tip.BurnBlockTime, rec.Tip.BlockTime = it.Tip.BurnBlockTime.Unix(), it.Tip.BlockTime.Unix()
	rec.NewestBurnTime, rec.Served = newest, served
	rec.learn(r.lookups.take(), it.Bounds.HorizonStart)
	b, err := json.Marshal(rec)
	if err == nil {
		err = k.WriteRecord(OfflineRecordName, b)
	}
	if err != nil {
		r.cacheWarn.Do(func() { r.log.Warn("cannot write the raw cache; going on without it", "err", err) })
		return
	}
	r.offline = rec
}

// NotCachedError is a page an offline run needed and the raw cache does not
// hold: its unit stays uncovered, and the run goes on with the others.
type NotCachedError struct {
	Key string // the page's raw-cache key
	// Why says why the cache cannot serve it ("" for a page never cached).
	Why string
}

// Error names the page the raw cache lacks.
func (e *NotCachedError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("page %s must come from the server (%s)", e.Key, e.Why)
	}
	return fmt.Sprintf("page %s is not in the raw cache", e.Key)
}

// OfflineIncompleteError ends an offline run that could not rebuild every
// final unit from the raw cache. It exits 3, like coverage below policy:
// what the cache held is committed and verified, the rest is missing.
type OfflineIncompleteError struct {
	Units []string // labels of the units left uncovered, oldest first
	First string   // the first missing page's error
}

// Error says how much the offline rebuild left missing and how to fill it.
func (e *OfflineIncompleteError) Error() string {
	list := strings.Join(e.Units[:min(len(e.Units), 3)], ", ")
	if len(e.Units) > 3 {
		list += fmt.Sprintf(" and %d more", len(e.Units)-3)
	}
	return fmt.Sprintf("offline: the raw cache lacks pages of %d final unit(s) (%s; first: %s), so they stay missing: "+
		"run `mage backfill` without BACKFILL_OFFLINE to fetch them", len(e.Units), list, e.First)
}

// ExitStatus is 3: the rebuild left coverage short.
func (e *OfflineIncompleteError) ExitStatus() int { return exitcode.BelowPolicy }

// ErrNoOfflineRecord is an offline run over a raw cache that has never seen
// an online iteration end: it has no tip to plan from.
var ErrNoOfflineRecord = exitcode.New(exitcode.BadInput, errors.New(
	"offline: the raw cache holds no record of a chain tip (no online backfill has finished an iteration with it): run `mage backfill` online once"))

// CheckOffline tells, before anything is opened, whether cache can plan an
// offline run: it must hold the record of a tip.
func CheckOffline(cache PageCache) error {
	_, ok, err := readOfflineRecord(cache)
	switch {
	case err != nil:
		return exitcode.New(exitcode.BadInput, err)
	case !ok:
		return ErrNoOfflineRecord
	}
	return nil
}

// noteNotCached records a unit an offline run could not rebuild.
func (r *run) noteNotCached(label string, e *NotCachedError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notCached == nil {
		r.notCached = map[string]*NotCachedError{}
	}
	r.notCached[label] = e
}

// offlineIncomplete is the error of an offline run that missed pages.
func (r *run) offlineIncomplete() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.notCached) == 0 {
		return nil
	}
	e := &OfflineIncompleteError{}
	for label := range r.notCached {
		e.Units = append(e.Units, label)
	}
	sort.Strings(e.Units)
	e.First = r.notCached[e.Units[0]].Error()
	return e
}

// offlineWhy is why an offline run cannot read a page from the cache, ""
// when it may.
func offlineWhy(r *run, use bool) string {
	switch {
	case !use:
		return "it is not final, or a re-check re-opened it"
	case r.cfg.Cache == nil:
		return "no raw cache is configured"
	case r.cfg.ForceRefresh:
		return "backfill.force_refresh forbids the raw cache"
	}
	return ""
}

// checkOfflineChain is checkChain without the network: the database and
// the raw cache must name the same chain, when both name one.
func (r *run) checkOfflineChain(ctx context.Context) error {
	keeper, ok := r.cfg.Cache.(chainKeeper)
	if !ok {
		return nil
	}
	height, hash, ok, err := keeper.ChainAnchor()
	if err != nil || !ok {
		return err
	}
	v, ok, err := r.cfg.Store.Meta(context.WithoutCancel(ctx), store.MetaChainAnchor)
	if err != nil {
		return err
	}
	if !ok {
		return r.cfg.Store.SetMeta(context.WithoutCancel(ctx), store.MetaChainAnchor, anchor{height, hash}.String())
	}
	a, err := parseAnchor(v)
	if err != nil {
		return fmt.Errorf("the database's chain anchor %q: %w", v, err)
	}
	if a.height == height && a.hash != hash {
		return exitcode.Errorf(exitcode.BadInput, "offline: the database holds another chain than the raw cache: block %d is %s in the database, %s in the raw cache; "+
			"use the paths.database and paths.raw_dir of one chain", height, a.hash, hash)
	}
	return nil
}

// preflightOffline is preflight without the network: the source is the one
// forced, else the one the record names (an offline run cannot probe), the
// tip is the record's, and the chain is checked between the database and
// the raw cache only.
func (r *run) preflightOffline(ctx context.Context) error {
	cfg := r.cfg
	name := cfg.API
	if name == "" || name == "auto" {
		name = r.offline.Source
	}
	src := cfg.V1
	if name == SourceV3 {
		src = cfg.V3
	}
	if src == nil {
		if src = cfg.V1; src == nil {
			src = cfg.V3
		}
	}
	r.use(src)
	tip := r.offline.tip()
	r.firstTip = &tip
	r.log.Info("offline: rebuilding from the raw cache alone", "source", src.Name(),
		"tip_height", tip.Height, "tip_burn_time", tip.BurnBlockTime.Format(time.RFC3339),
		"recorded_at", r.offline.SavedAt.Format(time.RFC3339))
	return r.checkOfflineChain(ctx)
}
