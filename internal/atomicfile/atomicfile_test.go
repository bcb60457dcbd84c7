package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// entries lists the names in dir, so a test can see every temporary file.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWrite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		old  []byte // nil: no file before
		perm os.FileMode
	}{
		{"creates", nil, 0o644},
		{"replaces", []byte("old content, longer than the new"), 0o644},
		{"sets the mode exactly", []byte("x"), 0o600},
		{"empty content", nil, 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if tc.old != nil {
				if err := os.WriteFile(path, tc.old, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			want := []byte("new")
			if tc.name == "empty content" {
				want = []byte{}
			}
			if err := Write(path, want, tc.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("content = %q, %v; want %q", got, err, want)
			}
			info, err := os.Stat(path)
			if err != nil || info.Mode().Perm() != tc.perm {
				t.Fatalf("mode = %v, %v; want %v", info.Mode().Perm(), err, tc.perm)
			}
			if names := entries(t, dir); len(names) != 1 {
				t.Fatalf("directory holds %q, want only f.json", names)
			}
		})
	}
}

// Every way a write can fail must leave the old file as it was and no
// temporary file behind.
func TestFailureKeepsOldFile(t *testing.T) {
	t.Parallel()
	errFill := errors.New("fill failed")
	for _, tc := range []struct {
		name  string
		write func(path string) error
		want  error // wrapped by the returned error; nil: any error
	}{
		{"fill fails", func(path string) error {
			return WriteNamed(path, 0o644, func(tmp string) error {
				if err := os.WriteFile(tmp, []byte("half"), 0o644); err != nil {
					return err
				}
				return errFill
			})
		}, errFill},
		{"aborted", func(path string) error {
			f, err := Create(path, 0o644)
			if err != nil {
				return err
			}
			if _, err := f.WriteString("half"); err != nil {
				return err
			}
			f.Abort()
			f.Abort() // a second Abort is harmless
			return errors.New("aborted")
		}, nil},
		{"commit after abort", func(path string) error {
			f, err := Create(path, 0o644)
			if err != nil {
				return err
			}
			f.Abort()
			return f.Commit()
		}, nil},
		{"rename fails", func(path string) error {
			// A directory in the way makes the rename fail after the
			// content was written and synced.
			return Write(filepath.Join(filepath.Dir(path), "blocker"), []byte("new"), 0o644)
		}, nil},
		{"missing directory", func(path string) error {
			return Write(filepath.Join(filepath.Dir(path), "missing", "f"), []byte("new"), 0o644)
		}, fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "blocker", "inside"), 0o755); err != nil {
				t.Fatal(err)
			}
			err := tc.write(path)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want an error wrapping %v", err, tc.want)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
				t.Fatalf("old file = %q, %v; want it untouched", got, err)
			}
			for _, name := range entries(t, dir) {
				if name != "f.json" && name != "blocker" {
					t.Errorf("left %q behind", name)
				}
			}
		})
	}
}

// Commit and CommitNoSync both put the whole content at the destination
// only when called, leave no temporary file, and refuse a second commit.
func TestCreateCommit(t *testing.T) {
	t.Parallel()
	for _, commit := range []struct {
		name string
		do   func(*File) error
	}{{"Commit", (*File).Commit}, {"CommitNoSync", (*File).CommitNoSync}} {
		t.Run(commit.name, func(t *testing.T) {
			t.Parallel()
			testCreateCommit(t, commit.do)
		})
	}
}

func testCreateCommit(t *testing.T, commit func(*File) error) {
	dir := t.TempDir()
	path := filepath.Join(dir, "panel.csv")
	f, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort() // after Commit: must not remove the result
	if !IsTemp(filepath.Base(f.Name())) || filepath.Dir(f.Name()) != dir {
		t.Fatalf("temporary file %s: want a hidden .tmp name in %s", f.Name(), dir)
	}
	fmt.Fprintf(f, "a,b\n1,2\n")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("destination exists before Commit: %v", err)
	}
	if err := commit(f); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	if got, err := os.ReadFile(path); err != nil || string(got) != "a,b\n1,2\n" {
		t.Fatalf("content = %q, %v", got, err)
	}
	if err := commit(f); err == nil {
		t.Error("a second commit succeeded")
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v, want the destination alone", names)
	}
}

func TestWriteNamedRecreated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "first_seen.parquet")
	// A writer that removes and recreates its output, as some COPY
	// implementations do.
	err := WriteNamed(path, 0o644, func(tmp string) error {
		if err := os.Remove(tmp); err != nil {
			return err
		}
		return os.WriteFile(tmp, []byte("parquet"), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "parquet" {
		t.Fatalf("content = %q, %v", got, err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", info.Mode().Perm())
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q", names)
	}
}

// A reader racing the writers sees one whole version or another, never a
// partial file.
func TestReadersSeeWholeVersions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	versions := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 3)}
	if err := Write(path, versions[0], 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range 50 {
			if err := Write(path, versions[i%2], 0o644); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for reads := 0; ; reads++ {
		select {
		case <-done:
			wg.Wait()
			return
		default:
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
			t.Fatalf("read %d bytes that are neither version", len(got))
		}
	}
}

func TestIsTemp(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		".f.json.123.tmp": true,
		".k.123456.tmp":   true,
		"f.json":          false,
		"f.tmp":           false, // not hidden: someone else's file
		".hidden":         false,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}
