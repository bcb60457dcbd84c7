//go:build ignore

// The zero-install bootstrap: `go run mage.go <target>` builds and runs the
// targets of magefile.go with only Go installed. `go run` reports every
// failure as exit status 1; use `mage` or a `mage -compile`d binary where
// the exit codes (docs/design.md#exit-codes) matter (CI).
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
