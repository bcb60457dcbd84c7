//go:build linux && !race

package store

import "syscall"

// arenaFloor is the fewest uint32 slots an arena reserves: 256 MiB of
// address space, 64M keys, touched only as far as they are used.
const arenaFloor = 1 << 26

// allocArena maps reserve bytes of anonymous memory, without reserving
// swap for them, or returns need bytes of heap memory when the system
// refuses the mapping (strict overcommit, a small address space).
func allocArena(need, reserve int) ([]byte, bool) {
	mem, err := syscall.Mmap(-1, 0, reserve, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return make([]byte, need), false
	}
	return mem, true
}

// discardArena drops the whole pages of mem from offset from on: they
// read as zeros again and are no longer resident.
func discardArena(mem []byte, from int) {
	page := syscall.Getpagesize()
	from = (from + page - 1) / page * page
	if from < len(mem) {
		_ = syscall.Madvise(mem[from:], syscall.MADV_DONTNEED) // only a hint: keeping the pages is harmless
	}
}

// freeArena unmaps mem.
func freeArena(mem []byte) { _ = syscall.Munmap(mem) } // a failed unmap only leaks address space
