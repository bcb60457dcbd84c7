package progress

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		before string // file content before; "" for none
		state  State
	}{
		{"new file", "", State{PID: 42, Phase: "fetching", UpdatedAt: at}},
		{"replaces a longer state", `{"pid": 1, "message": "an older and much longer message than the new one"}`,
			State{PID: 7, Running: true, Committed: &Committed{AsOf: at, MissingRanges: []Range{{Start: at, End: at.Add(time.Hour)}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := PathFor(filepath.Join(dir, "cache.duckdb"))
			if tc.before != "" {
				if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(path, tc.state); err != nil {
				t.Fatal(err)
			}
			got, ok, err := Read(path)
			if err != nil || !ok || !reflect.DeepEqual(got, tc.state) {
				t.Fatalf("Read = %+v, %v, %v; want %+v", got, ok, err, tc.state)
			}
			if es, _ := os.ReadDir(dir); len(es) != 1 {
				t.Errorf("%d files in the folder, want only the progress file", len(es))
			}
		})
	}
}

func TestReadMissingAndBroken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, ok, err := Read(filepath.Join(dir, "none.json")); ok || err != nil {
		t.Errorf("missing file: ok %v, err %v; want no state and no error", ok, err)
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := Read(broken); ok || err == nil {
		t.Errorf("broken file: ok %v, err %v; want an error", ok, err)
	}
	if err := Write(filepath.Join(dir, "missing", "p.json"), State{}); err == nil {
		t.Error("Write into a missing folder succeeded")
	}
}
