package tasks

import (
	"strings"
	"testing"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/policy"
	"github.com/stxwallets/walletcache/internal/progress"
)

// The summary's next step is the command that goes on: the demo starts
// afresh from `mage demo`, a backfill continues from `mage backfill`.
func TestSummaryNextStep(t *testing.T) {
	t.Parallel()
	demo := demoPolicy(t.TempDir(), "http://127.0.0.1:1", 3)
	plain := policy.Default()
	for _, tt := range []struct {
		name string
		pol  policy.Policy
		out  progress.Outcome
		want string
	}{
		{"an interrupted backfill", plain, progress.OutcomeInterrupted, "run `mage backfill` again to continue where this stopped"},
		{"an interrupted demo", demo, progress.OutcomeInterrupted, "run `mage demo` again: it starts afresh"},
		{"a partial backfill", plain, progress.OutcomePartial, "run `mage backfill` again (or raise"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			printSummary(&b, &tt.pol, backfill.Summary{RunID: 1, Outcome: tt.out})
			if !strings.Contains(b.String(), "next       "+tt.want) {
				t.Fatalf("summary:\n%s\nwant the next step %q", b.String(), tt.want)
			}
		})
	}
}
