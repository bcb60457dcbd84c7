package seed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// ArchiveOptions configure OpenArchive.
type ArchiveOptions struct {
	// Schema is SchemaAuto (or "") or the schema whose tables to read.
	Schema string
	// PgRestore is the pg_restore binary. Empty: the newest
	// /usr/lib/postgresql/<major>/bin/pg_restore, else pg_restore on PATH.
	PgRestore string
}

// Archive reads a custom-format (pg_dump -Fc) archive of the API database
// without a server: it runs pg_restore --data-only for one table at a time
// with its output on stdout and parses the COPY text. pg_restore seeks
// straight to a table's data in a seekable file, so reading chain_tip or
// pgmigrations is quick even in a large dump; txs is one sequential stream.
//
// Every Scan is a full pass over the txs data, whatever the range, because
// the dump is in storage order, not time order. Scan the whole horizon once
// and sort rows into windows by BurnBlockTime; the count Scan returns is the
// count of the same snapshot (the archive cannot change).
type Archive struct {
	path      string
	pgRestore string // the binary used
	version   string // its version line, for messages
	tip       Tip
}

var _ Reader = (*Archive)(nil)

// archiveVersions maps a custom archive's format version to the first
// PostgreSQL release whose pg_dump writes it (pg_backup_archiver.h).
var archiveVersions = map[[2]byte]int{
	{1, 12}: 9, {1, 13}: 11, {1, 14}: 12, {1, 15}: 16, {1, 16}: 17,
}

// OpenArchive checks the file, finds pg_restore, reads the table of
// contents, detects the schema, checks the API version, the tables and the
// txs columns, and reads the tip. Every failure is an *Error with one
// sentence.
func OpenArchive(ctx context.Context, path string, opts ArchiveOptions) (*Archive, error) {
	format, err := archiveHeader(path)
	if err != nil {
		return nil, err
	}
	bin, looked, err := findPgRestore(opts.PgRestore)
	if err != nil {
		return nil, &Error{Kind: ErrPgRestore, Msg: fmt.Sprintf(
			"no pg_restore found (looked for %s); install the PostgreSQL client %s or newer (Debian: postgresql-client-%s) or set the pg_restore path",
			looked, neededRelease(format), neededRelease(format))}
	}
	a := &Archive{path: path, pgRestore: bin}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return nil, &Error{Kind: ErrPgRestore, Msg: fmt.Sprintf("cannot run %s --version: %v", bin, err)}
	}
	a.version = strings.TrimSpace(string(out))
	// Refuse before running it when the header already says pg_restore
	// is too old; the stderr check in restoreError covers the rest.
	if m := releaseOf.FindStringSubmatch(a.version); m != nil {
		have, _ := strconv.Atoi(m[1])
		if need, _ := strconv.Atoi(neededRelease(format)); need > have {
			return nil, a.tooOld(format)
		}
	}
	toc, err := a.run(ctx, "-l", path)
	if err != nil {
		return nil, err
	}
	schema, err := a.pickSchema(toc, opts.Schema)
	if err != nil {
		return nil, err
	}
	a.tip.Schema = schema
	where := fmt.Sprintf("archive %s, schema %s", path, schema)
	data := tableData(toc)[schema]
	if !slices.Contains(data, "pgmigrations") {
		return nil, &Error{Kind: ErrVersion, Msg: fmt.Sprintf("%s has no pgmigrations data, so it is not a stacks-blockchain-api dump (or one too old to read)", where)}
	}
	var names []string
	err = a.table(ctx, "pgmigrations", func(cols []string) (func([][]byte) error, error) {
		i := slices.Index(cols, "name")
		if i < 0 {
			return nil, fmt.Errorf("pgmigrations has no name column")
		}
		return func(f [][]byte) error {
			s, err := unescapeText(f[i], nil)
			names = append(names, string(s))
			return err
		}, nil
	})
	if err != nil {
		return nil, a.openError(where, err)
	}
	if a.tip.Migration, err = checkMigrations(names, where); err != nil {
		return nil, err
	}
	for _, t := range requiredTables {
		if !slices.Contains(data, t) {
			return nil, &Error{Kind: ErrMissingTable, Msg: fmt.Sprintf("%s has no %s table data, which the seed reads", where, t)}
		}
	}
	if err := a.readTip(ctx, where, slices.Contains(data, "blocks")); err != nil {
		return nil, err
	}
	// Read only the txs header now, so a missing column fails here rather
	// than after a long pass.
	err = a.table(ctx, "txs", func(cols []string) (func([][]byte) error, error) {
		if _, err := newTextRowDecoder(cols); err != nil {
			return nil, err
		}
		return nil, errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, a.openError(where, err)
	}
	return a, nil
}

// errStop ends a table read early without being an error.
var errStop = errors.New("stop")

// archiveHeader checks the file is a custom archive and returns its format
// version (e.g. {1, 16}).
func archiveHeader(path string) ([2]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [2]byte{}, &Error{Kind: ErrArchive, Msg: fmt.Sprintf("seed archive_dump %s cannot be opened: %v", path, errors.Unwrap(err))}
	}
	defer f.Close()
	var h [8]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:5]) != "PGDMP" {
		return [2]byte{}, &Error{Kind: ErrArchive, Msg: fmt.Sprintf("seed archive_dump %s is not a custom-format pg_dump archive (pg_dump -Fc, like Hiro's .dump files)", path)}
	}
	return [2]byte{h[5], h[6]}, nil
}

// neededRelease names the PostgreSQL major version whose pg_restore reads
// the format.
func neededRelease(format [2]byte) string {
	if v, ok := archiveVersions[format]; ok {
		return strconv.Itoa(v)
	}
	if format[0] > 1 || format[1] > 16 {
		return "18"
	}
	return "12"
}

// findPgRestore returns the binary and, for messages, where it looked.
func findPgRestore(explicit string) (bin, looked string, err error) {
	if explicit != "" {
		if _, err := exec.LookPath(explicit); err != nil {
			return "", explicit, err
		}
		return explicit, explicit, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_restore")
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(b) - majorOf(a) })
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			return d, d, nil
		}
	}
	if p, err := exec.LookPath("pg_restore"); err == nil {
		return p, p, nil
	}
	return "", "/usr/lib/postgresql/*/bin/pg_restore and pg_restore on PATH", exec.ErrNotFound
}

func majorOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

var (
	unsupportedVersion = regexp.MustCompile(`unsupported version \((\d+)\.(\d+)\) in file header`)
	releaseOf          = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)
)

// run runs pg_restore to completion and returns its stdout.
func (a *Archive) run(ctx context.Context, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, a.pgRestore, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &limitedBuffer{max: 64 << 10, buf: &stderr}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, a.restoreError(stderr.String(), err)
	}
	return stdout.Bytes(), nil
}

// restoreError explains a failed pg_restore, naming the release needed when
// the archive is newer than the binary.
func (a *Archive) restoreError(stderr string, err error) error {
	if m := unsupportedVersion.FindStringSubmatch(stderr); m != nil {
		maj, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		return a.tooOld([2]byte{byte(maj), byte(minor)})
	}
	msg := strings.TrimSpace(stderr)
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i]
	}
	if msg == "" {
		msg = err.Error()
	}
	return &Error{Kind: ErrArchive, Msg: fmt.Sprintf("%s (%s) cannot read %s: %s", a.version, a.pgRestore, a.path, msg)}
}

// tooOld is the sentence for a pg_restore older than the archive format.
func (a *Archive) tooOld(format [2]byte) error {
	need := neededRelease(format)
	return &Error{Kind: ErrPgRestore, Msg: fmt.Sprintf(
		"%s (%s) is too old for %s: the archive is format %d.%d, which needs pg_restore from PostgreSQL %s or newer (current Hiro dumps are PostgreSQL 17); install postgresql-client-%s and set the pg_restore path to its bin/pg_restore",
		a.version, a.pgRestore, a.path, format[0], format[1], need, need)}
}

// tableData lists, per schema, the tables whose data the TOC holds. A TOC
// line reads "3391; 0 16386 TABLE DATA <schema> <table> <owner>".
func tableData(toc []byte) map[string][]string {
	out := map[string][]string{}
	for line := range bytes.Lines(toc) {
		if bytes.HasPrefix(line, []byte(";")) {
			continue
		}
		_, rest, ok := bytes.Cut(line, []byte(" TABLE DATA "))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) >= 2 {
			out[f[0]] = append(out[f[0]], f[1])
		}
	}
	return out
}

func (a *Archive) pickSchema(toc []byte, schema string) (string, error) {
	data := tableData(toc)
	var withTxs []string
	for s, tables := range data {
		if slices.Contains(tables, "txs") {
			withTxs = append(withTxs, s)
		}
	}
	slices.Sort(withTxs)
	if schema == "" || schema == SchemaAuto {
		for _, s := range []string{SchemaHiro, SchemaFallback} {
			if slices.Contains(withTxs, s) {
				return s, nil
			}
		}
		return "", &Error{Kind: ErrSchema, Msg: fmt.Sprintf("archive %s has no txs data in schema %s or %s%s", a.path, SchemaHiro, SchemaFallback, foundIn(withTxs))}
	}
	if _, ok := data[schema]; !ok {
		return "", &Error{Kind: ErrSchema, Msg: fmt.Sprintf("archive %s has no table data in schema %q%s", a.path, schema, foundIn(withTxs))}
	}
	return schema, nil
}

func foundIn(schemas []string) string {
	if len(schemas) == 0 {
		return ""
	}
	return fmt.Sprintf(" (txs data is in schema %s)", strings.Join(schemas, ", "))
}

func (a *Archive) openError(where string, err error) error {
	var se *Error
	if errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &Error{Kind: ErrMissingTable, Msg: fmt.Sprintf("%s: %v", where, err)}
}

// readTip reads chain_tip, then passes over blocks for the tip's burn time
// and the anchor.
func (a *Archive) readTip(ctx context.Context, where string, hasBlocks bool) error {
	tip := &a.tip
	var tipIndex []byte
	rows := 0
	err := a.table(ctx, "chain_tip", func(cols []string) (func([][]byte) error, error) {
		pos, err := positions(cols, requiredColumns["chain_tip"])
		if err != nil {
			return nil, fmt.Errorf("chain_tip %w", err)
		}
		return func(f [][]byte) error {
			rows++
			var err1, err2 error
			tip.Height, err1 = parseInt(f[pos[0]])
			tip.BurnBlockHeight, err2 = parseInt(f[pos[3]])
			hash, err3 := decodeBytea(f[pos[1]], nil)
			index, err4 := decodeBytea(f[pos[2]], nil)
			tip.Hash, tip.IndexHash, tipIndex = hex0x(hash), hex0x(index), index
			return errors.Join(err1, err2, err3, err4)
		}, nil
	})
	if err != nil {
		return a.openError(where, err)
	}
	if rows == 0 {
		return &Error{Kind: ErrMissingTable, Msg: fmt.Sprintf("%s: chain_tip is empty, the API had not ingested a block yet", where)}
	}
	if !hasBlocks {
		return nil // no burn time for the tip: see Tip
	}
	err = a.table(ctx, "blocks", func(cols []string) (func([][]byte) error, error) {
		pos, err := positions(cols, requiredColumns["blocks"])
		if err != nil {
			return nil, fmt.Errorf("blocks %w", err)
		}
		return func(f [][]byte) error {
			if !bytes.Equal(f[pos[4]], []byte("t")) {
				return nil
			}
			h, err := parseInt(f[pos[2]])
			if err != nil {
				return err
			}
			isTip := h == tip.Height
			isAnchor := h >= tip.Height-AnchorDepth && h <= tip.Height && (tip.Anchor.Hash == "" || h < tip.Anchor.Height)
			if !isTip && !isAnchor {
				return nil
			}
			index, err := decodeBytea(f[pos[0]], nil)
			if err != nil {
				return err
			}
			hash, err := decodeBytea(f[pos[1]], nil)
			if err != nil {
				return err
			}
			bt, err := parseInt(f[pos[3]])
			if err != nil {
				return err
			}
			b := Block{Height: h, Hash: hex0x(hash), IndexHash: hex0x(index), BurnBlockTime: time.Unix(bt, 0).UTC()}
			if isTip && bytes.Equal(index, tipIndex) {
				tip.BurnBlockTime = b.BurnBlockTime
			}
			if isAnchor {
				tip.Anchor = b
			}
			return nil
		}, nil
	})
	if err != nil {
		return a.openError(where, err)
	}
	return nil
}

// positions finds names in cols.
func positions(cols, names []string) ([]int, error) {
	out := make([]int, len(names))
	var missing []string
	for i, n := range names {
		out[i] = slices.Index(cols, n)
		if out[i] < 0 {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("lacks column(s) %s, which the seed reads", strings.Join(missing, ", "))
	}
	return out, nil
}

// table streams one table's data out of pg_restore. start gets the COPY
// header's columns and returns the per-row function (nil: read nothing);
// the row function gets the fields of each line. An errStop from either
// ends the read early.
func (a *Archive) table(parent context.Context, name string, start func(cols []string) (func([][]byte) error, error)) (err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.pgRestore, "--data-only", "--schema="+a.tip.Schema, "--table="+name, "-f", "-", a.path)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{max: 64 << 10, buf: &stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("pg_restore pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return &Error{Kind: ErrPgRestore, Msg: fmt.Sprintf("cannot run %s: %v", a.pgRestore, err)}
	}
	stopped := false
	defer func() {
		if stopped {
			cancel() // kill pg_restore: the rest of its output is not wanted
		}
		werr := cmd.Wait()
		switch {
		case parent.Err() != nil:
			err = parent.Err()
		case !stopped && werr != nil: // pg_restore's own words beat a short read
			err = a.restoreError(stderr.String(), werr)
		}
	}()
	stop := func(e error) error {
		stopped = true
		if errors.Is(e, errStop) {
			return nil
		}
		return e
	}
	r := newCopyReader(out)
	prefix := []byte("COPY " + ident(a.tip.Schema) + "." + ident(name) + " (")
	altPrefix := []byte("COPY " + a.tip.Schema + "." + name + " (")
	var row func([][]byte) error
	for {
		line, err := r.line()
		if errors.Is(err, io.EOF) {
			return nil // no data for the table: an empty table
		}
		if err != nil {
			return stop(fmt.Errorf("read pg_restore output: %w", err))
		}
		if !bytes.HasPrefix(line, prefix) && !bytes.HasPrefix(line, altPrefix) {
			continue
		}
		cols, perr := copyColumns(line)
		if perr != nil {
			return stop(perr)
		}
		if row, err = start(cols); err != nil || row == nil {
			return stop(err)
		}
		break
	}
	var fields [][]byte
	for {
		line, rerr := r.line()
		if errors.Is(rerr, io.EOF) {
			return fmt.Errorf("pg_restore output of %s ended before the end of its data", name)
		}
		if rerr != nil {
			return stop(fmt.Errorf("read pg_restore output of %s: %w", name, rerr))
		}
		if len(line) == 2 && line[0] == '\\' && line[1] == '.' {
			_, _ = io.Copy(io.Discard, out) // let pg_restore finish
			return nil
		}
		fields = splitFields(line, fields)
		if err := row(fields); err != nil {
			return stop(err)
		}
	}
}

// copyColumns parses "COPY s.t (a, b, "c") FROM stdin;".
func copyColumns(line []byte) ([]string, error) {
	open := bytes.IndexByte(line, '(')
	end := bytes.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return nil, fmt.Errorf("%w: COPY header without a column list", errCopyFormat)
	}
	parts := strings.Split(string(line[open+1:end]), ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && p[0] == '"' {
			p = strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
		}
		parts[i] = p
	}
	return parts, nil
}

// Kind returns "archive".
func (a *Archive) Kind() string { return KindArchive }

// Tip returns the tip read at open.
func (a *Archive) Tip(context.Context) (Tip, error) { return a.tip, nil }

// Scan passes over all txs data once and hands out, in the dump's order,
// the final rows with burn_block_time in [start, end]. Use math.MinInt64 and
// math.MaxInt64 for every row.
func (a *Archive) Scan(ctx context.Context, start, end int64, fn func([]chain.Tx) error) (int64, error) {
	return pipeline(ctx, func(ctx context.Context, emit func(chain.Tx) error) error {
		var dec *textRowDecoder
		var r Row
		var line int64
		return a.table(ctx, "txs", func(cols []string) (func([][]byte) error, error) {
			var err error
			if dec, err = newTextRowDecoder(cols); err != nil {
				return nil, err
			}
			return func(f [][]byte) error {
				line++
				if err := dec.decodeFields(f, &r); err != nil {
					return fmt.Errorf("archive %s: txs row %d: %w", a.path, line, err)
				}
				if !r.Final(a.tip.Height) || r.BurnBlockTime < start || r.BurnBlockTime > end {
					return nil
				}
				tx, err := r.Tx()
				if err != nil {
					return err
				}
				return emit(tx)
			}, nil
		})
	}, fn)
}

// Close has nothing to release: each read's pg_restore ends with the read.
func (a *Archive) Close() error { return nil }

// limitedBuffer keeps the first max bytes written and drops the rest, so a
// chatty pg_restore cannot fill memory.
type limitedBuffer struct {
	max int
	buf *bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
