package images

import (
	"context"
	"errors"
	"fmt"
)

// findBastionGroup finds the bastion's security group, owned by this configuration: the
// builder takes SSH from its members only. Without it nothing is created, let alone booted:
// a build group that names no remote group would let SSH in from anywhere.
// stepBastionGroup finds the bastion's security group, owned by this configuration: the
// builder takes SSH from its members only. Without it nothing is created, let alone booted:
// a build group that names no remote group would let SSH in from anywhere.
type stepBastionGroup struct {
	noCleanup
	p *Pipeline
}

func (*stepBastionGroup) Name() string { return "bastion group" }

func (s *stepBastionGroup) Run(ctx context.Context, b *build) error {
	p := s.p
	if b.spec.BastionGroup == "" {
		return errors.New("the configuration has no bastion: builders take SSH only from the bastion's security group; add a bastion block and apply it")
	}
	id, err := p.Cloud.FindSecurityGroup(ctx, b.spec.BastionGroup, ownerTags(b.spec.Config))
	if err != nil {
		return fmt.Errorf("find the bastion's security group (builders take SSH only from it; hardenctl apply creates it): %w", err)
	}
	b.bastion = id
	return nil
}
