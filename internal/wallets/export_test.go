package wallets

import (
	"strconv"
	"testing"
)

// UseStringKeys makes Compute take the string-key path for the rest of the
// test, as it does when two principals share a hash.
func UseStringKeys(t testing.TB) {
	old := stringKeysOnly
	stringKeysOnly = true
	t.Cleanup(func() { stringKeysOnly = old })
}

// CollideKeys keeps only the top bits of every principal's hash for the
// rest of the test, so the checks see shared hashes and Compute falls back.
// (The key is spliced into formats, so it avoids the % operator.)
func CollideKeys(t testing.TB, bits int) {
	old := keyHash
	keyHash = "(hash(%s) >> " + strconv.Itoa(64-bits) + ")"
	t.Cleanup(func() { keyHash = old })
}
