package store

import "unsafe"

// keyArena is the memory of keySet's main array: on Linux an anonymous
// mapping outside the Go heap, reserved at more than a backfill is likely
// to fill (only the pages keys reach become resident), elsewhere (and
// under the race detector) a slice of the heap. It holds uint32 slots, or, while a set loads, uint64 ones
// over the same bytes.
type keyArena struct {
	mem    []byte
	mapped bool // mem is a mapping (mapArena), not heap
}

// newKeyArena makes an arena of at least slots uint32 slots.
func newKeyArena(slots int) *keyArena {
	a := &keyArena{}
	a.mem, a.mapped = allocArena(slots*4, max(slots, arenaFloor)*4)
	return a
}

// capacity is how many uint32 slots the arena has.
func (a *keyArena) capacity() int { return len(a.mem) / 4 }

// uint32s is the first n uint32 slots.
func (a *keyArena) uint32s(n int) []uint32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&a.mem[0])), n)
}

// uint64s is the first n uint64 slots (2n uint32 ones). Mappings are page
// aligned and heap slices of this size 8-byte aligned.
func (a *keyArena) uint64s(n int) []uint64 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&a.mem[0])), n)
}

// grow makes the arena hold at least slots uint32 slots, keeping the
// first keep of them. It copies them into new memory: the reservation
// makes that rare.
func (a *keyArena) grow(slots, keep int) {
	mem, mapped := allocArena(slots*4, max(slots, arenaFloor)*4)
	copy(mem, a.mem[:keep*4])
	a.free()
	a.mem, a.mapped = mem, mapped
}

// trim gives the pages past the first slots uint32 slots back to the
// system (a loaded set no longer needs the room its whole keys took).
func (a *keyArena) trim(slots int) {
	if a.mapped {
		discardArena(a.mem, slots*4)
	}
}

// free returns the arena's memory.
func (a *keyArena) free() {
	if a.mapped {
		freeArena(a.mem)
	}
	a.mem, a.mapped = nil, false
}
