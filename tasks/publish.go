package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stxwallets/walletcache/internal/atomicfile"
	"github.com/stxwallets/walletcache/internal/dashboard"
	"github.com/stxwallets/walletcache/internal/exitcode"
	"github.com/stxwallets/walletcache/internal/policy"
)

// manifest describes a published set of artifacts.
type manifest struct {
	BuiltAt          time.Time      `json:"built_at"`
	PublishedAt      time.Time      `json:"published_at"`
	CoveragePercent  float64        `json:"coverage_percent"`
	TargetDays       int            `json:"target_days"`
	DataStart        string         `json:"data_start"`
	DataEndDate      string         `json:"data_end_date"`
	UserTxs          int64          `json:"user_txs"`
	Wallets          int64          `json:"wallets"`
	FirstSeenWallets int64          `json:"first_seen_wallets"`
	PanelRows        map[string]int `json:"panel_rows"`
	Files            []string       `json:"files"`
}

// publishArtifacts copies the page, the panels and the parquet into
// paths.publish_dir with a manifest.json. The copy is assembled in a
// temporary folder and swapped in, so readers never see half of it.
func (p Process) publishArtifacts(ctx context.Context, pol *policy.Policy, res dashboard.Result, coverage float64) (manifest, error) {
	if pol.ReadOnly {
		return manifest{}, exitcode.Errorf(exitcode.BadInput, "BACKFILL_READ_ONLY is set: publish writes %s; unset it to publish", pol.Paths.PublishDir)
	}
	dst := pol.Paths.PublishDir
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return manifest{}, fmt.Errorf("publish: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".publish-*")
	if err != nil {
		return manifest{}, fmt.Errorf("publish: %w", err)
	}
	defer os.RemoveAll(tmp)
	m := manifest{
		BuiltAt: time.Now().UTC(), PublishedAt: time.Now().UTC(), CoveragePercent: coverage,
		TargetDays: pol.Horizon.TargetDays, DataStart: res.Period.HistoryStart.Format(time.DateOnly),
		DataEndDate: res.Period.DataEndDate.Format(time.DateOnly), UserTxs: res.UserTxs,
		Wallets: res.ActiveWallets, FirstSeenWallets: res.ParquetRows, PanelRows: map[string]int{},
	}
	if fi, err := os.Stat(res.Index); err == nil {
		m.BuiltAt = fi.ModTime().UTC()
	}
	copyOne := func(src, rel string) error {
		if err := copyFile(src, filepath.Join(tmp, rel)); err != nil {
			return fmt.Errorf("publish %s: %w", src, err)
		}
		m.Files = append(m.Files, rel)
		return nil
	}
	if err := copyOne(res.Index, "index.html"); err != nil {
		return m, err
	}
	for _, p := range res.Panels {
		if err := copyOne(p.Path, filepath.Join("panels", filepath.Base(p.Path))); err != nil {
			return m, err
		}
		m.PanelRows[p.Name] = p.Rows
	}
	if err := copyOne(res.FirstSeenParquet, filepath.Base(res.FirstSeenParquet)); err != nil {
		return m, err
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := atomicfile.Write(filepath.Join(tmp, "manifest.json"), b, 0o644); err != nil {
		return m, fmt.Errorf("publish manifest: %w", err)
	}
	// Every file is synced; syncing the folder makes its entries (the
	// panels folder among them) durable before it is swapped in.
	if err := atomicfile.SyncDir(tmp); err != nil {
		return m, fmt.Errorf("publish: %w", err)
	}
	old := dst + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !os.IsNotExist(err) {
		return m, fmt.Errorf("publish: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Rename(old, dst)
		return m, fmt.Errorf("publish: %w", err)
	}
	_ = os.RemoveAll(old)
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return m, fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(p.Stdout, "published %d files to %s (manifest.json lists them)\n", len(m.Files), dst)
	return m, nil
}

// copyFile copies src to dst, creating dst's folder, with dst synced to disk.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Commit()
}
