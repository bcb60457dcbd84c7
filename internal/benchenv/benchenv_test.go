package benchenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestValues(t *testing.T) {
	t.Setenv("BENCHENV_N", "")
	t.Setenv("BENCHENV_D", "")
	if got := Int(t, "BENCHENV_N", 5); got != 5 {
		t.Fatalf("unset: %d, want the default 5", got)
	}
	if got := Duration(t, "BENCHENV_D", time.Second); got != time.Second {
		t.Fatalf("unset: %s, want the default 1s", got)
	}
	t.Setenv("BENCHENV_N", "12")
	t.Setenv("BENCHENV_D", "20ms")
	if got := Int(t, "BENCHENV_N", 5); got != 12 {
		t.Fatalf("12: %d", got)
	}
	if got := Duration(t, "BENCHENV_D", 0); got != 20*time.Millisecond {
		t.Fatalf("20ms: %s", got)
	}
}

// A bad value stops the caller with a message naming the variable; the
// check runs in a child process, since it fails the test that reads it.
func TestBadValuesStop(t *testing.T) {
	if v := os.Getenv("BENCHENV_CHILD"); v != "" {
		if v == "int" {
			Int(t, "BENCHENV_N", 5)
		} else {
			Duration(t, "BENCHENV_D", 0)
		}
		return
	}
	for _, c := range []struct{ kind, env, want string }{
		{"int", "BENCHENV_N=0", "BENCHENV_N=\"0\""},
		{"int", "BENCHENV_N=five", "BENCHENV_N=\"five\""},
		{"duration", "BENCHENV_D=-1s", "BENCHENV_D=\"-1s\""},
		{"duration", "BENCHENV_D=soon", "BENCHENV_D=\"soon\""},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBadValuesStop$")
		cmd.Env = append(os.Environ(), "BENCHENV_CHILD="+c.kind, c.env)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: err %v, output %q; want a failure naming %s", c.env, err, out, c.want)
		}
	}
}
