package exitcode

import (
	"errors"
	"fmt"
	"testing"
)

// held stands for an error type that owns its code, like a lock error.
type held struct{}

func (held) Error() string   { return "held by another process" }
func (held) ExitStatus() int { return Locked }

func TestOfAndExpose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain error", errors.New("boom"), Failure},
		{"coded", Errorf(BelowPolicy, "coverage %d%%", 90), BelowPolicy},
		{"typed", held{}, Locked},
		{"typed, wrapped", fmt.Errorf("open: %w", held{}), Locked},
		{"typed, joined", errors.Join(errors.New("first"), fmt.Errorf("open: %w", held{})), Locked},
		{"outermost wins", New(Failure, fmt.Errorf("check: %w", held{})), Failure},
		{"coded, wrapped", fmt.Errorf("stopping: %w", New(Interrupted, errors.New("ctrl+c"))), Interrupted},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: Of = %d, want %d", tc.name, got, tc.want)
		}
		exposed := Expose(tc.err)
		if tc.err == nil {
			if exposed != nil {
				t.Errorf("%s: Expose(nil) = %v", tc.name, exposed)
			}
			continue
		}
		// What Mage's main does: a type assertion, no chain search.
		s, ok := exposed.(interface{ ExitStatus() int })
		if !ok || s.ExitStatus() != tc.want {
			t.Errorf("%s: Expose does not carry exit %d on the outside: %#v", tc.name, tc.want, exposed)
		}
		if exposed.Error() != tc.err.Error() || !errors.Is(exposed, tc.err) {
			t.Errorf("%s: Expose changed the error: %v", tc.name, exposed)
		}
	}
	if New(BadInput, nil) != nil {
		t.Error("New(code, nil) is not nil")
	}
}
