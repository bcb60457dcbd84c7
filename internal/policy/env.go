package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// FromEnvironment loads the policy the way every command does: the file
// named by BACKFILL_POLICY (default ./backfill.yaml), with overrides from
// the process environment and, for variables the process environment does
// not set, from the .env file in the policy file's folder.
//
// A missing policy file is an error that says how to fix it. Every error is
// an *exitcode.Error with code BadInput.
func FromEnvironment() (*Policy, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, badInput(fmt.Errorf("policy: find the working directory: %w", err))
	}
	return FromLookup(os.LookupEnv, wd)
}

// FromLookup is FromEnvironment with the environment and the working
// directory passed in: lookup answers like os.LookupEnv, and a relative
// BACKFILL_POLICY (or the default ./backfill.yaml) resolves against wd.
// Callers that must not touch the process environment (tests running in
// parallel) load their policy this way.
func FromLookup(lookup func(string) (string, bool), wd string) (*Policy, error) {
	p, err := fromEnvironment(lookup, wd)
	return p, badInput(err)
}

// fromEnvironment is FromLookup without the exit code on its errors.
func fromEnvironment(lookup func(string) (string, bool), wd string) (*Policy, error) {
	name, set := lookup(EnvPolicy)
	name = strings.TrimSpace(name)
	if name == "" {
		name, set = DefaultFile, false
	}
	abs := name
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(wd, abs)
	}
	abs = filepath.Clean(abs)
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) && set:
		return nil, fmt.Errorf("%s=%s: policy file %s not found: point %s at an existing policy file (the repository root ships a commented %s), or unset it to use ./%s",
			EnvPolicy, name, abs, EnvPolicy, DefaultFile, DefaultFile)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no %s in %s and %s is not set: run from the repository root (where the commented %s ships), or set %s to the policy file's path",
			DefaultFile, wd, EnvPolicy, DefaultFile, EnvPolicy)
	case err != nil:
		return nil, fmt.Errorf("policy file %s: %w", abs, err)
	case info.IsDir():
		return nil, fmt.Errorf("policy file %s is a folder; %s must name the YAML file itself", abs, EnvPolicy)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("policy file %s is %s, not a regular file; %s must name the YAML file itself", abs, describeMode(info.Mode()), EnvPolicy)
	}

	envPath := filepath.Join(filepath.Dir(abs), DotEnvFile)
	dot, err := LoadDotEnv(envPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	getenv := func(k string) (string, bool) {
		if v, ok := lookup(k); ok {
			return v, true
		}
		v, ok := dot[k]
		return v, ok
	}
	envFile := func(k string) string {
		if _, ok := lookup(k); ok {
			return ""
		}
		if _, ok := dot[k]; ok {
			return envPath
		}
		return ""
	}
	return load(filepath.Clean(name), abs, getenv, envFile)
}

// envName is what a .env variable name may look like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// LoadDotEnv reads a .env file of KEY=VALUE lines. It accepts blank lines,
// `#` comment lines, an optional `export ` prefix, values in single quotes
// (taken literally) or double quotes (with \n, \t, \r, \", \\ escapes), and
// unquoted values, where ` #` starts a comment. Values are not expanded
// (`$VAR` stays as written) and must fit on one line. A later line wins
// over an earlier one for the same KEY.
//
// A missing file is an error wrapping fs.ErrNotExist. Errors name the file
// and line but never repeat the line: a .env file holds secrets.
func LoadDotEnv(path string) (map[string]string, error) {
	data, err := readRegular(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return parseDotEnv(bytes.NewReader(data), path)
}

// parseDotEnv parses .env text; name is used in error messages.
func parseDotEnv(r io.Reader, name string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff") // byte order mark
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimSpace(rest)
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE", name, n)
		}
		key = strings.TrimSpace(key)
		if !envName.MatchString(key) {
			return nil, fmt.Errorf("%s:%d: %q is not a valid variable name (letters, digits and _, not starting with a digit)", name, n, key)
		}
		val, err := dotEnvValue(strings.TrimLeft(raw, " \t"))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", name, n, key, err)
		}
		out[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// dotEnvValue decodes the text after `=`.
func dotEnvValue(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	var val, rest string
	switch s[0] {
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated single quote (values must fit on one line)")
		}
		val, rest = s[1:1+end], s[2+end:]
	case '"':
		var b strings.Builder
		i := 1
		closed := false
		for ; i < len(s); i++ {
			c := s[i]
			if c == '"' {
				closed = true
				break
			}
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case '"', '\\', '$', '`':
					b.WriteByte(s[i])
				default:
					// Unknown escapes stay as written, as in shells.
					b.WriteByte('\\')
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(c)
		}
		if !closed {
			return "", errors.New("unterminated double quote (values must fit on one line)")
		}
		val, rest = b.String(), s[i+1:]
	default:
		// An unquoted value ends at a comment: `#` after whitespace.
		for i := 1; i < len(s); i++ {
			if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
				s = s[:i]
				break
			}
		}
		return strings.TrimSpace(s), nil
	}
	rest = strings.TrimSpace(rest)
	if rest != "" && !strings.HasPrefix(rest, "#") {
		return "", errors.New("unexpected text after the closing quote")
	}
	return val, nil
}
