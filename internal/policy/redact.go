package policy

import (
	"net/url"
	"regexp"
	"strings"
)

// redactedMark stands in for a secret wherever one would be shown.
const redactedMark = "REDACTED"

// secretParams are query parameter names, matched as lower-case
// substrings, whose values are treated as secrets.
var secretParams = []string{"key", "token", "secret", "password", "passwd", "auth", "signature", "sig"}

// RedactURL returns s with its secrets replaced by a fixed marker: the
// whole user info (`https://user:pass@host` becomes
// `https://REDACTED@host`, since a user name alone can be a token) and the
// values of key-, token- or password-like query parameters. It is the one
// function every log line, error, summary, progress file and database row
// passes a configured URL through. A string that does not parse as a URL
// still has anything between "://" and an "@" before the first "/"
// removed, so a malformed URL does not leak either.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || strings.Contains(u.Opaque, "@") {
		// Unparseable, or host:port read as scheme:opaque ("user:pass@host").
		return redactUnparsed(s)
	}
	changed := u.User != nil
	if u.User != nil {
		u.User = url.User(redactedMark)
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery, changed = redactedMark, true
		} else {
			for k := range q {
				if isSecretParam(k) {
					q[k] = []string{redactedMark}
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
	}
	if !changed {
		return s // nothing secret: the string as written
	}
	return u.String()
}

func isSecretParam(name string) bool {
	name = strings.ToLower(name)
	for _, p := range secretParams {
		if strings.Contains(name, p) {
			return true
		}
	}
	return false
}

// redactUnparsed removes user info from a string url.Parse refused, and
// drops its query, which cannot be read to tell secrets apart.
func redactUnparsed(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if i := strings.IndexByte(s, '@'); i >= 0 {
			return redactedMark + s[i:]
		}
		if i := strings.IndexByte(s, '?'); i >= 0 {
			return s[:i] + "?" + redactedMark
		}
		return s
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = redactedMark + authority[i:]
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] + "?" + redactedMark
	}
	return scheme + "://" + authority + path
}

// dsnPassword finds the password of a key=value connection string.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN redacts a PostgreSQL connection string in either form: a URL
// (postgres://user:pass@host/db, as RedactURL) or key=value pairs
// (host=db password=secret), whose password value is replaced.
func RedactDSN(s string) string {
	if strings.Contains(s, "://") {
		return RedactURL(s)
	}
	return dsnPassword.ReplaceAllString(s, "${1}"+redactedMark)
}
