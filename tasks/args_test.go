package tasks

import (
	"errors"
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

// A target's command line is its name, Mage's options before it and its
// own flags after it; anything else stops the target before it runs, with
// exit 2 and a message naming the word.
func TestCheckArgs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		args  []string
		flags []string
		want  string // in the error; "" for none
	}{
		{"the target alone", []string{"backfill"}, nil, ""},
		{"Mage's options first", []string{"-v", "-t", "5m", "status", "-json=true"}, []string{"json"}, ""},
		{"a flag without a value", []string{"prune", "-dryrun"}, []string{"dryrun"}, ""},
		{"a flag in another case", []string{"prune", "-DryRun=true"}, []string{"dryrun"}, ""},
		{"an alias", []string{"backfill-status", "-json=false"}, []string{"json"}, ""},
		{"nothing at all", nil, nil, ""},
		{"a stray word", []string{"prune", "dryrun"}, []string{"dryrun"}, `unexpected "dryrun" after ` + "`mage prune`"},
		{"a value after a space", []string{"status", "-json", "true"}, []string{"json"}, `unexpected "true"`},
		{"a flag of a target without flags", []string{"backfill", "-target_days=3"}, nil, "takes no flags, and -target_days=3"},
		{"a flag the target lacks", []string{"sim", "-dayz=2"}, []string{"days", "rps"}, "has no flag -dayz=2 (it has -days=…, -rps=…)"},
		{"a second target", []string{"backfill", "dashboards"}, nil, `unexpected "dashboards"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckArgs(tt.args, tt.flags...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%v: %v", tt.args, err)
				}
				return
			}
			var coded interface{ ExitStatus() int }
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing was run") ||
				!errors.As(err, &coded) || coded.ExitStatus() != exitcode.BadInput {
				t.Fatalf("%v: err %v; want exit 2 naming %q", tt.args, err, tt.want)
			}
		})
	}
}
