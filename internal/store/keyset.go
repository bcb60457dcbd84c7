package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// keyBucketBits is how many of a key's top bits pick its bucket in
// keySet: a year of rows puts about a hundred keys in each, so a lookup is
// a short binary search.
const keyBucketBits = 16

// keyDeltaMax is how many keys keySet takes in its small sorted buckets
// before it merges them into its main array: about 3 MB of Go heap (the
// buckets' slice headers 1.5 MB, their keys up to 1 MB and slack), and a
// merge that moves the main array once per 2^18 rows written (30 merges
// over a year of rows, each a pass over at most 32 MB).
const keyDeltaMax = 1 << 18

// keySet is the keys of every tx_id stored in transactions, and of some
// that no longer are (rows deleted since, rows of a batch that rolled
// back): a superset, which is all replaceStored needs. It is filled from
// the table on first use and grows with every row written. Used under
// the store's writeMu.
//
// It keeps 48 bits of each key, 4 bytes a row: the bucket's 16 and 32 in
// the bucket. With 48 bits, a row that is new is taken for a stored one
// with a chance of rows ÷ 2^48, about once in ten years of mainnet
// backfills; that costs one delete that reads the tx_id column and finds
// nothing.
//
// Most of the keys live in main, one array sorted by bucket and then by
// the 32 bits, outside the Go heap (keyArena): a year of them is 32 MB
// that the collector would otherwise count twice (its heap grows to twice
// what is live before it collects), which was most of what a year's
// backfill held beyond DuckDB (docs/design.md#memory). Keys added since
// the last merge wait in delta, small sorted buckets on the heap.
type keySet struct {
	arena   *keyArena
	main    []uint32                     // view of the arena: every bucket's keys, each bucket sorted
	starts  [1<<keyBucketBits + 1]uint32 // bucket b is main[starts[b]:starts[b+1]]
	delta   [][]uint32                   // by bucket, each sorted; keys not yet in main
	deltaN  int
	mergeAt int // delta is merged into main once it holds this many keys (keyDeltaMax; tests set less)
	merges  int // how many times it was
	n       int // keys held, in main and delta
}

// newKeySet makes an empty set with room for about n keys in its arena
// (it grows past them).
func newKeySet(n int64) *keySet {
	return &keySet{arena: newKeyArena(int(n)), delta: make([][]uint32, 1<<keyBucketBits), mergeAt: keyDeltaMax}
}

// split is key's bucket and the 32 bits kept in it.
func split(key uint64) (bucket int, low uint32) {
	return int(key >> (64 - keyBucketBits)), uint32(key >> (64 - keyBucketBits - 32))
}

// loadKeySet reads the keys of the committed tx_ids. It must read through
// a connection without a write transaction of its own: a set read inside
// one would miss the rows that transaction deleted, and keep missing them
// after a rollback brought them back.
//
// The keys are read whole into the arena, sorted there and packed to
// their 48 bits in place, so the read costs no Go heap.
func loadKeySet(ctx context.Context, db *sql.DB) (*keySet, error) {
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM transactions`).Scan(&n); err != nil {
		return nil, fmt.Errorf("read stored tx_ids: %w", err)
	}
	k := newKeySet(2 * n) // the whole keys take two slots each while they load
	if n == 0 {
		return k, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT `+txKeySQL+` FROM transactions`)
	if err != nil {
		k.release()
		return nil, fmt.Errorf("read stored tx_ids: %w", err)
	}
	defer rows.Close()
	var whole []uint64
	for rows.Next() {
		var key uint64
		if err := rows.Scan(&key); err != nil {
			k.release()
			return nil, fmt.Errorf("read stored tx_ids: %w", err)
		}
		if 2*(len(whole)+1) > k.arena.capacity() { // rows written since the count
			k.arena.grow(4*(len(whole)+1), 2*len(whole))
		}
		whole = k.arena.uint64s(len(whole) + 1)
		whole[len(whole)-1] = key
	}
	if err := rows.Err(); err != nil {
		k.release()
		return nil, fmt.Errorf("read stored tx_ids: %w", err)
	}
	slices.Sort(whole)
	// Pack in place: slot i of the packed keys is the first half of slot
	// i/2 of the whole ones, so a key is always written at or below where
	// it is read.
	packed := k.arena.uint32s(len(whole))
	bucket, m := 0, 0
	var prev uint64
	for i, key := range whole {
		if i > 0 && key>>16 == prev {
			continue // two tx_ids that share 48 bits: one key
		}
		prev = key >> 16
		b, low := split(key)
		for bucket < b {
			bucket++
			k.starts[bucket] = uint32(m)
		}
		packed[m] = low
		m++
	}
	for bucket < 1<<keyBucketBits {
		bucket++
		k.starts[bucket] = uint32(m)
	}
	k.main, k.n = packed[:m], m
	k.arena.trim(m)
	if !k.arena.mapped {
		// Heap memory is not trimmed: keep only what the keys need.
		a := newKeyArena(m)
		copy(a.uint32s(m), k.main)
		k.arena.free()
		k.arena, k.main = a, a.uint32s(m)
	}
	return k, nil
}

// has tells whether key may belong to a stored tx_id.
func (k *keySet) has(key uint64) bool {
	b, low := split(key)
	if _, found := slices.BinarySearch(k.main[k.starts[b]:k.starts[b+1]], low); found {
		return true
	}
	_, found := slices.BinarySearch(k.delta[b], low)
	return found
}

// add records key and tells whether the set held it already.
func (k *keySet) add(key uint64) (had bool) {
	b, low := split(key)
	if _, found := slices.BinarySearch(k.main[k.starts[b]:k.starts[b+1]], low); found {
		return true
	}
	i, found := slices.BinarySearch(k.delta[b], low)
	if found {
		return true
	}
	k.delta[b] = slices.Insert(k.delta[b], i, low)
	k.deltaN++
	k.n++
	if k.deltaN >= k.mergeAt {
		k.merge()
	}
	return false
}

// merge moves the keys of delta into main. main grows at its end; the
// buckets are merged from the last to the first, each from its end, so
// every key is written at or above where it is read and nothing needs a
// second copy.
func (k *keySet) merge() {
	old := len(k.main)
	size := old + k.deltaN
	if size > k.arena.capacity() {
		k.arena.grow(size+size/2, old)
	}
	k.main = k.arena.uint32s(size)
	shift := uint32(k.deltaN) // how far bucket b's keys move up: the delta keys of buckets < b+1
	for b := len(k.delta) - 1; b >= 0; b-- {
		d := k.delta[b]
		lo, hi := int(k.starts[b]), int(k.starts[b+1]) // the bucket in the old main
		out := hi + int(shift)                         // one past where it ends now
		i, j := hi-1, len(d)-1
		for j >= 0 {
			out--
			if i >= lo && k.main[i] > d[j] {
				k.main[out] = k.main[i]
				i--
			} else {
				k.main[out] = d[j]
				j--
			}
		}
		if s := int(shift) - len(d); s > 0 { // the bucket's old keys below i move up
			copy(k.main[lo+s:out], k.main[lo:i+1])
		}
		k.starts[b+1] += shift
		shift -= uint32(len(d))
		k.delta[b] = d[:0]
	}
	k.deltaN = 0
	k.merges++
}

// release gives the arena back; the set must not be used again.
func (k *keySet) release() {
	if k == nil {
		return
	}
	k.arena.free()
	k.main = nil
}
