package policy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/exitcode"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://api.hiro.so", "https://api.hiro.so"},
		{"https://", "https://"},
		{"https://user:pass@api.example:3999/x", "https://REDACTED@api.example:3999/x"},
		{"https://token@api.example", "https://REDACTED@api.example"},
		{"http://h/p?api_key=s3&limit=5", "http://h/p?api_key=REDACTED&limit=5"},
		{"http://h/p?limit=5", "http://h/p?limit=5"},
		{"https://user:pa ss@host/%zz", "https://REDACTED@host/%zz"}, // unparseable, still redacted
		{"user:pass@host", "REDACTED@host"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A password in HIRO_API_URL is kept for the client (basic auth) but shown
// nowhere: not by String, %#v, slog, JSON of a redacted copy, Summary, or a
// validation error.
func TestURLPasswordNeverShown(t *testing.T) {
	t.Parallel()
	const password = "hunter2-url-secret"
	path := writePolicy(t, "source:\n")
	p, err := Load(path, env(map[string]string{EnvAPIURL: "https://walletcache:" + password + "@api.example"}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Source.BaseURL, password) {
		t.Fatalf("the client needs the password: %q", p.Source.BaseURL)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("policy", "policy", *p)
	shown := map[string]string{
		"String":   p.String(),
		"GoString": fmt.Sprintf("%#v", *p),
		"slog":     logs.String(),
		"JSON":     mustJSON(t, p.Redacted()),
	}
	for name, s := range shown {
		if strings.Contains(s, password) {
			t.Errorf("%s shows the password: %s", name, s)
		}
		if !strings.Contains(s, "api.example") {
			t.Errorf("%s lost the host: %s", name, s)
		}
	}
	_, err = Load(path, env(map[string]string{EnvAPIURL: "ftp://walletcache:" + password + "@api.example"}))
	if err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("validation error shows the password or is missing: %v", err)
	}
}

// The policy and .env paths must name regular files of bounded size: a
// FIFO, a device or a folder is exit 2 with a message, never a hang or an
// out-of-memory crash.
func TestPolicyFileMustBeRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("# x\n"), MaxFileBytes/4+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"fifo", fifo, "named pipe"},
		{"dev zero", "/dev/zero", "character device"},
		{"folder", dir, "folder"},
		{"huge", huge, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.path == "/dev/zero" {
				if _, err := os.Stat(tt.path); err != nil {
					t.Skip("no /dev/zero")
				}
			}
			for how, load := range map[string]func() error{
				"Load": func() error { _, err := Load(tt.path, nil); return err },
				"FromEnvironment": func() error {
					_, err := fromEnvironment(env(map[string]string{EnvPolicy: tt.path}), dir)
					return badInput(err)
				},
			} {
				err := within(t, load)
				if err == nil || !strings.Contains(err.Error(), tt.want) || exitcode.Of(err) != exitcode.BadInput {
					t.Errorf("%s: %v (exit %d), want exit 2 saying %q", how, err, exitcode.Of(err), tt.want)
				}
			}
		})
	}
}

func TestDotEnvMustBeRegular(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"fifo", "folder"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "backfill.yaml"), []byte("source:\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			dot := filepath.Join(dir, DotEnvFile)
			var err error
			if kind == "fifo" {
				err = syscall.Mkfifo(dot, 0o600)
			} else {
				err = os.Mkdir(dot, 0o700)
			}
			if err != nil {
				t.Skip(err)
			}
			got := within(t, func() error {
				_, err := fromEnvironment(env(nil), dir)
				return badInput(err)
			})
			if !errors.Is(got, ErrNotRegular) || exitcode.Of(got) != exitcode.BadInput || !strings.Contains(got.Error(), DotEnvFile) {
				t.Fatalf("%v (exit %d), want exit 2 naming .env", got, exitcode.Of(got))
			}
		})
	}
}

// within runs f and fails the test if it has not returned in 10 s (the old
// code blocked forever opening a FIFO).
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("still reading after 10 s")
		return nil
	}
}
