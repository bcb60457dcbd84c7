package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stxwallets/walletcache/internal/atomicfile"
	"github.com/stxwallets/walletcache/internal/exitcode"
)

// EnvSync copies the .env of this checkout into every other git worktree
// of the repository. A worktree whose .env differs is left alone unless
// force is set, and the output says so; the file's contents are never
// printed, since it holds the API key.
func EnvSync(ctx context.Context, p Process, force bool) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	top, err := gitOutput(ctx, p.Dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return exitcode.Errorf(exitcode.BadInput, "env:sync must run inside the repository's git checkout: %v", err)
	}
	src := filepath.Join(top, ".env")
	want, err := os.ReadFile(src)
	if errors.Is(err, os.ErrNotExist) {
		return exitcode.Errorf(exitcode.BadInput, "no .env in %s to copy: create it first (for example with HIRO_API_KEY=...)", top)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	list, err := gitOutput(ctx, top, "worktree", "list", "--porcelain")
	if err != nil {
		return fmt.Errorf("list worktrees: %w", err)
	}
	copied, same, kept := 0, 0, 0
	for _, line := range strings.Split(list, "\n") {
		dir, ok := strings.CutPrefix(line, "worktree ")
		if !ok || filepath.Clean(dir) == filepath.Clean(top) {
			continue
		}
		dst := filepath.Join(dir, ".env")
		have, err := os.ReadFile(dst)
		switch {
		case err == nil && bytes.Equal(have, want):
			same++
			fmt.Fprintf(p.Stdout, "  %s: already up to date\n", dst)
			continue
		case err == nil && !force:
			kept++
			fmt.Fprintf(p.Stdout, "  %s: differs from %s; NOT overwritten (run `mage env:sync -force` to replace it)\n", dst, src)
			continue
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("read %s: %w", dst, err)
		}
		if err := atomicfile.Write(dst, want, 0o600); err != nil {
			return fmt.Errorf("copy .env to %s: %w", dir, err)
		}
		copied++
		fmt.Fprintf(p.Stdout, "  %s: copied\n", dst)
	}
	fmt.Fprintf(p.Stdout, "env:sync: %d copied, %d already up to date, %d left alone because they differ\n", copied, same, kept)
	return nil
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
