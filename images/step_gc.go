package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// stepCleanEarlier removes what earlier builds of the configuration left (GC) before this
// one makes anything.
type stepCleanEarlier struct {
	noCleanup
	p *Pipeline
}

func (*stepCleanEarlier) Name() string { return "clean earlier builds" }

func (s *stepCleanEarlier) Run(ctx context.Context, b *build) error {
	_, err := s.p.GC(ctx, b.spec.Config)
	return err
}

// GC removes what earlier builds of configuration cfg left behind (killed, or kept for
// debugging): builders, their security groups and key pairs, unpublished snapshots, and
// private work directories (with their keys) in this machine's temporary directory. It must
// run under the configuration's lock, or it would take a running build's builder away.
func (p *Pipeline) GC(ctx context.Context, cfg string) ([]string, error) {
	p.defaults()
	left, err := p.Cloud.FindBuildLeftovers(ctx, []string{TagManagedBy, tagBuilder + cfg}, buildPrefix(cfg))
	if err != nil {
		return nil, fmt.Errorf("find what earlier builds left: %w", err)
	}
	var removed []string
	var errs []error
	done := func(what string, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		removed = append(removed, what)
		p.Logger.Warn("removed what an earlier build left", "what", what)
	}
	for _, id := range left.Servers { // before their groups, which they use
		done("server "+id, p.Cloud.DeleteServer(ctx, id))
	}
	for _, id := range left.Groups {
		done("security group "+id, p.Cloud.DeleteSecurityGroup(ctx, id))
	}
	for _, name := range left.KeyPairs {
		done("key pair "+name, p.Cloud.DeleteKeyPair(ctx, name))
	}
	snaps, err := p.Cloud.FindImages(ctx, ImageQuery{Properties: map[string]string{propBuildConfig: cfg}, OwnProject: true})
	if err != nil {
		errs = append(errs, fmt.Errorf("find unpublished snapshots: %w", err))
	}
	for _, im := range snaps {
		if !slices.Contains(im.Tags, TagManagedBy) { // published images have their tags
			done("unpublished image "+im.ID, p.Cloud.DeleteImage(ctx, im.ID))
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildPrefix(cfg)+"*"))
	for _, d := range dirs {
		done("work directory "+d, os.RemoveAll(d))
	}
	return removed, errors.Join(errs...)
}
