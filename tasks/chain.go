package tasks

import (
	"context"
	"fmt"

	"github.com/stxwallets/walletcache/internal/policy"
)

// pipeline runs the post-backfill chain for one policy: dashboards (which
// first make sure coverage meets policy), then smoke checks, then, when
// publish is set, the publish copy. Each Mage target that chains these
// calls it, so a dependency runs once per invocation.
func (p Process) pipeline(ctx context.Context, pol *policy.Policy, publish bool) error {
	res, err := p.buildDashboards(ctx, pol)
	if err != nil {
		return err
	}
	if err := p.runSmoke(ctx, pol); err != nil {
		return err
	}
	if !publish {
		return nil
	}
	rep, err := gatherStatus(ctx, pol)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	_, err = p.publishArtifacts(ctx, pol, res, rep.CoveragePercent)
	return err
}

// Smoke is `mage smoke` (and `smoke-notebook`): dashboards, then the
// smoke checks.
func Smoke(ctx context.Context, p Process) error {
	p, pol, err := p.start()
	if err != nil {
		return err
	}
	return p.pipeline(ctx, pol, false)
}

// Notebook rebuilds every artifact from the database and runs the smoke
// checks: the same chain as Smoke, under the name notebook users run.
func Notebook(ctx context.Context, p Process) error { return Smoke(ctx, p) }

// Publish is `mage publish`: dashboards, smoke checks, then the copy to
// paths.publish_dir with a manifest; nothing is published when a check
// fails.
func Publish(ctx context.Context, p Process) error {
	p, pol, err := p.start()
	if err != nil {
		return err
	}
	return p.pipeline(ctx, pol, true)
}
