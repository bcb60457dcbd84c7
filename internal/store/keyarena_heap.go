//go:build !linux || race

package store

// The arena is heap memory where no mapping is used, and under the race
// detector, which does not watch mapped memory.

// arenaFloor is 0 where the arena is heap memory: it holds what it is
// asked for and grows by copying.
const arenaFloor = 0

// allocArena is need bytes of heap memory where no mapping is used.
func allocArena(need, _ int) ([]byte, bool) { return make([]byte, need), false }

func discardArena([]byte, int) {}

func freeArena([]byte) {}
