package images

import (
	"context"
	"fmt"
	"time"
)

// stepBoot boots the builder and waits until it is ACTIVE with an address.
type stepBoot struct {
	p *Pipeline
}

func (*stepBoot) Name() string { return "boot builder" }

func (s *stepBoot) Run(ctx context.Context, b *build) error {
	p := s.p
	id, err := p.Cloud.CreateServer(ctx, ServerSpec{Name: b.name, ImageID: b.source.ID, Flavor: b.spec.Flavor,
		Network: b.spec.Network, SecurityGroups: []string{b.groupID}, KeyName: b.keyPair,
		Metadata: map[string]string{"hardenctl_build": b.id, "hardenctl_image": b.spec.Name},
		Tags:     b.tags()})
	if err != nil {
		return err
	}
	b.server.ID = id
	bctx, cancel := context.WithTimeout(ctx, b.spec.bootTimeout())
	defer cancel()
	srv, err := p.Cloud.WaitServer(bctx, id, "ACTIVE")
	if err != nil {
		return err
	}
	b.server = srv
	if srv.Address == "" {
		return fmt.Errorf("builder %s has no IPv4 address on network %s", id, b.spec.Network)
	}
	return nil
}

// Cleanup deletes the server it booted, unless the builder is kept.
func (s *stepBoot) Cleanup(ctx context.Context, b *build) error {
	if b.server.ID == "" || b.keep {
		return nil
	}
	return s.p.Cloud.DeleteServer(ctx, b.server.ID)
}

func (s Spec) bootTimeout() time.Duration {
	if s.BootTimeout > 0 {
		return s.BootTimeout
	}
	return 10 * time.Minute
}
