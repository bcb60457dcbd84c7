// Package pgtest runs a throw-away PostgreSQL server for tests and writes a
// Stacks chain into it in the stacks-blockchain-api schema, traps included,
// so the seed readers can be tested against the real thing.
//
// The server runs from the Debian postgresql-<major> binaries
// (/usr/lib/postgresql/<major>/bin), as user nobody when the tests run as
// root (PostgreSQL refuses root), with its data and its Unix socket in a
// private temporary directory and no TCP listener. One server serves a test
// binary: call Shared from tests and Main from TestMain so it stops at the
// end; every test takes its own database from NewDB, so tests run in
// parallel. Without the binaries Shared skips the test, naming the package
// to install.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned by Start when the server binaries are missing.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH; install the Debian package postgresql-15")

// Server is one running PostgreSQL instance.
type Server struct {
	// Bin is the directory of initdb, pg_ctl, pg_dump and pg_restore.
	Bin string
	// Password is the superuser's (user postgres) password.
	Password string
	// Socket is the directory holding the Unix socket.
	Socket string
	root   string
	data   string
	dbs    atomic.Int64
	mu     sync.Mutex
	closed bool
}

// findBin returns the newest /usr/lib/postgresql/<major>/bin, else the
// directory of initdb on PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return n }
	slices.SortFunc(dirs, func(a, b string) int { return major(b) - major(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

// Start initialises and starts a new server. Stop it with Stop.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temp dir: %w", err)
	}
	var pw [12]byte
	_, _ = rand.Read(pw[:])
	s := &Server{Bin: bin, Password: "pw-" + hex.EncodeToString(pw[:]), Socket: root, root: root, data: filepath.Join(root, "data")}
	if err := s.init(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return s, nil
}

func (s *Server) init() error {
	pwfile := filepath.Join(s.root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if os.Geteuid() == 0 { // the server runs as nobody, who must own its files
		for _, p := range []string{s.root, pwfile} {
			if err := os.Chown(p, 65534, 65534); err != nil {
				return fmt.Errorf("pgtest: chown %s to nobody: %w", p, err)
			}
		}
	}
	if out, err := s.command("initdb", "-D", s.data, "-U", "postgres", "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50", s.Socket)
	if out, err := s.command("pg_ctl", "-D", s.data, "-w", "-l", filepath.Join(s.root, "log"), "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.root, "log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

// command runs a server binary, as nobody when we are root.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.Bin, name), args...)
	cmd.Dir = s.root
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// Stop stops the server and removes its files. It is safe to call twice.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	out, err := s.command("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop").CombinedOutput()
	os.RemoveAll(s.root)
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// URL returns the connection URL of database db as user postgres with
// password (use "" for none, or a wrong one to test rejection).
func (s *Server) URL(db, password string) string {
	if password == "" {
		return fmt.Sprintf("postgres://postgres@/%s?host=%s", db, s.Socket)
	}
	return fmt.Sprintf("postgres://postgres:%s@/%s?host=%s", password, db, s.Socket)
}

// NewDB creates an empty database for one test and returns its name; it is
// dropped when the test ends.
func (s *Server) NewDB(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	s.Exec(tb, "postgres", "CREATE DATABASE "+name)
	tb.Cleanup(func() {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			s.Exec(tb, "postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		}
	})
	return name
}

// Exec runs SQL statements in database db.
func (s *Server) Exec(tb testing.TB, db, sql string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL(db, s.Password))
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("pgtest: %s: %v", db, err)
	}
}

// Dump writes a custom-format archive (pg_dump -Fc) of database db into
// dir ("" for a temporary directory of the test) and returns its path.
func (s *Server) Dump(tb testing.TB, db, dir string) string {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	path := filepath.Join(dir, db+".dump")
	cmd := exec.Command(filepath.Join(s.Bin, "pg_dump"), "-Fc", "-h", s.Socket, "-U", "postgres", "-f", path, db)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: pg_dump %s: %v\n%s", db, err, out)
	}
	return path
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Shared returns the test binary's server, starting it on first use. It
// skips the test when PostgreSQL is not installed and fails it when the
// server does not start.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if errors.Is(sharedErr, ErrNoPostgres) {
		tb.Skip(sharedErr.Error())
	}
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return shared
}

// Main runs the tests and then stops the shared server, if one started.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
