package tasks

import (
	"fmt"
	"strings"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// CheckArgs checks the command line of the target about to run (args is
// os.Args[1:] of the compiled magefile) before it does anything: after
// Mage's own options and the target's name, only the target's flags (in
// the form -name=value) may follow. Mage reads a word it does not know as
// the next target, and refuses it only after the target before it has
// run: `mage prune dryrun` would delete files and then exit 2, the code
// that promises nothing was touched. One target a command; a stray word,
// a flag the target does not have or a value after a space is exit 2.
func CheckArgs(args []string, flags ...string) error {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") { // Mage's -v, -l, -h, -t <duration>
		if args[i] == "-t" {
			i++
		}
		i++
	}
	if i >= len(args) {
		return nil
	}
	target := args[i]
	for _, a := range args[i+1:] {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		known := false
		for _, f := range flags {
			known = known || strings.EqualFold(name, f)
		}
		switch {
		case strings.HasPrefix(a, "-") && known:
			continue
		case strings.HasPrefix(a, "-") && len(flags) == 0:
			return exitcode.New(exitcode.BadInput, fmt.Errorf("`mage %s` takes no flags, and %s is not one; nothing was run (`mage -h %s` explains it)", target, a, target))
		case strings.HasPrefix(a, "-"):
			return exitcode.New(exitcode.BadInput, fmt.Errorf("`mage %s` has no flag %s (it has %s); nothing was run", target, a, flagList(flags)))
		case len(flags) > 0:
			return exitcode.New(exitcode.BadInput, fmt.Errorf("unexpected %q after `mage %s`: one target a command, and flags take the form -name=value (%s); nothing was run",
				a, target, flagList(flags)))
		default:
			return exitcode.New(exitcode.BadInput, fmt.Errorf("unexpected %q after `mage %s`: one target a command, and this one takes no flags; nothing was run", a, target))
		}
	}
	return nil
}

// flagList names flags as they are written: -json=…, -dryrun=….
func flagList(flags []string) string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = "-" + f + "=…"
	}
	return strings.Join(out, ", ")
}
