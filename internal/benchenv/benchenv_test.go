package benchenv

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestValues(t *testing.T) {
	t.Setenv("BENCHENV_N", "")
	t.Setenv("BENCHENV_D", "")
	t.Setenv("BENCHENV_L", "")
	if got := Ascending(t, "BENCHENV_L", []int{5, 20}); !slices.Equal(got, []int{5, 20}) {
		t.Fatalf("unset: %v, want the default [5 20]", got)
	}
	if got := Int(t, "BENCHENV_N", 5); got != 5 {
		t.Fatalf("unset: %d, want the default 5", got)
	}
	if got := Duration(t, "BENCHENV_D", time.Second); got != time.Second {
		t.Fatalf("unset: %s, want the default 1s", got)
	}
	t.Setenv("BENCHENV_N", "12")
	t.Setenv("BENCHENV_D", "20ms")
	t.Setenv("BENCHENV_L", "1, 7,30")
	if got := Ascending(t, "BENCHENV_L", nil); !slices.Equal(got, []int{1, 7, 30}) {
		t.Fatalf("1, 7,30: %v", got)
	}
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
		switch v {
		case "int":
			Int(t, "BENCHENV_N", 5)
		case "list":
			Ascending(t, "BENCHENV_L", nil)
		default:
			Duration(t, "BENCHENV_D", 0)
		}
		return
	}
	for _, c := range []struct{ kind, env, want string }{
		{"int", "BENCHENV_N=0", "BENCHENV_N=\"0\""},
		{"int", "BENCHENV_N=five", "BENCHENV_N=\"five\""},
		{"duration", "BENCHENV_D=-1s", "BENCHENV_D=\"-1s\""},
		{"duration", "BENCHENV_D=soon", "BENCHENV_D=\"soon\""},
		{"list", "BENCHENV_L=20,5", "BENCHENV_L=\"20,5\""},
		{"list", "BENCHENV_L=5,,20", "BENCHENV_L=\"5,,20\""},
		{"list", "BENCHENV_L=0", "BENCHENV_L=\"0\""},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBadValuesStop$")
		cmd.Env = append(os.Environ(), "BENCHENV_CHILD="+c.kind, c.env)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: err %v, output %q; want a failure naming %s", c.env, err, out, c.want)
		}
	}
}

// The load average is the three numbers of /proc/loadavg, and the peak RSS
// grows by what the process touches, where /proc gives them.
func TestMachineFigures(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	f := strings.Fields(LoadAverage())
	if len(f) != 3 {
		t.Fatalf("load average %q: want three numbers", LoadAverage())
	}
	for _, v := range f {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			t.Fatalf("load average %q: %v", LoadAverage(), err)
		}
	}
	before := PeakRSSKB()
	if before <= 0 {
		t.Fatalf("peak RSS %d KiB before: want a positive number", before)
	}
	buf := make([]byte, 64<<20)
	for i := range buf { // touched, so resident
		buf[i] = byte(i)
	}
	after := PeakRSSKB()
	if after-before < 60<<10 {
		t.Fatalf("peak RSS grew by %d KiB after touching 64 MiB, want at least 60 MiB", after-before)
	}
	runtime.KeepAlive(buf)
}
