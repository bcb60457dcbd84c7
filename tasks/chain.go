package tasks

import (
	"context"
	"fmt"

	"github.com/stxwallets/walletcache/internal/policy"
)

// Pipeline runs the post-backfill chain for one policy: dashboards (which
// first make sure coverage meets policy), then smoke checks, then, when
// publish is set, the publish copy. Each Mage target that chains these
// calls it, so a dependency runs once per invocation.
func Pipeline(ctx context.Context, pol *policy.Policy, publish bool) error {
	res, err := BuildDashboards(ctx, pol)
	if err != nil {
		return err
	}
	if err := RunSmoke(ctx, pol); err != nil {
		return err
	}
	if !publish {
		return nil
	}
	rep, err := GatherStatus(ctx, pol)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	_, err = PublishArtifacts(ctx, pol, res, rep.CoveragePercent)
	return err
}

// Smoke is `mage smoke` (and `smoke-notebook`): dashboards, then the
// smoke checks.
func Smoke(ctx context.Context) error {
	pol, err := loadPolicy()
	if err != nil {
		return err
	}
	return Pipeline(ctx, pol, false)
}

// Notebook is the older scripts' `make notebook`: rebuild every artifact
// from the database and run the smoke checks.
func Notebook(ctx context.Context) error { return Smoke(ctx) }

// Publish is `mage publish`: dashboards, smoke checks, then the copy to
// paths.publish_dir with a manifest; nothing is published when a check
// fails.
func Publish(ctx context.Context) error {
	pol, err := loadPolicy()
	if err != nil {
		return err
	}
	return Pipeline(ctx, pol, true)
}
