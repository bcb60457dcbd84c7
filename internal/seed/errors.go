package seed

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Kinds of *Error. Each says why a seed cannot be used as configured; the
// caller reports the error's one sentence and exits 2 without writing.
var (
	// ErrConnect: the server cannot be reached, the URL does not parse, or
	// the database does not exist.
	ErrConnect = errors.New("cannot connect to the seed database")
	// ErrAuth: the server rejected the user or password.
	ErrAuth = errors.New("seed database rejected the credentials")
	// ErrSchema: the named schema does not exist (or, with auto, neither
	// candidate schema holds a txs table).
	ErrSchema = errors.New("seed schema not found")
	// ErrMissingTable: a table or column the reader needs is absent.
	ErrMissingTable = errors.New("seed table or column missing")
	// ErrVersion: pgmigrations is absent or names an API release older
	// than the first one whose txs table this package can read.
	ErrVersion = errors.New("unsupported stacks-blockchain-api version")
	// ErrArchive: the archive file is missing or is not a custom-format
	// pg_dump archive of the API database.
	ErrArchive = errors.New("seed archive unusable")
	// ErrPgRestore: pg_restore is missing or too old for the archive.
	ErrPgRestore = errors.New("pg_restore cannot read the seed archive")
)

// Error is a setup error of a seed: one plain sentence, with any password
// already removed. Unwrap gives its kind (ErrConnect, ErrAuth, ...), never
// the driver's error, so nothing unredacted hides in the chain.
type Error struct {
	Kind error  // one of the Err* kinds above
	Msg  string // the sentence to show, password already removed
}

// Error returns the sentence.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

// redactor removes a password from messages.
type redactor struct{ password string }

// clean replaces every occurrence of the password (plain and URL-escaped)
// and any password= setting or user:password@ part of a URL.
func (r redactor) clean(s string) string {
	if r.password != "" {
		s = strings.ReplaceAll(s, r.password, "xxxxx")
		if esc := url.QueryEscape(r.password); esc != r.password {
			s = strings.ReplaceAll(s, esc, "xxxxx")
		}
		if esc := url.PathEscape(r.password); esc != r.password {
			s = strings.ReplaceAll(s, esc, "xxxxx")
		}
	}
	s = userinfoPassword.ReplaceAllString(s, "${1}:xxxxx@")
	return keywordPassword.ReplaceAllString(s, "${1}=xxxxx")
}

var (
	userinfoPassword = regexp.MustCompile(`(://[^:/@\s]*):[^@\s]*@`)
	keywordPassword  = regexp.MustCompile(`(?i)\b(password)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)`)
)

// Redact returns a PostgreSQL connection string (URL or key=value form) with
// its password replaced by xxxxx, for logs and messages.
func Redact(connString string) string { return redactor{}.clean(connString) }
