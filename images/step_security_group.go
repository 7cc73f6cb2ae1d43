package images

import "context"

// stepSecurityGroup creates the builder's group: SSH in from the bastion's group only.
type stepSecurityGroup struct {
	p *Pipeline
}

func (*stepSecurityGroup) Name() string { return "security group" }

func (s *stepSecurityGroup) Run(ctx context.Context, b *build) error {
	p := s.p
	id, err := p.Cloud.CreateBuildGroup(ctx, b.name, b.bastion, b.tags())
	if err != nil {
		return err
	}
	b.groupID = id
	return nil
}

// Cleanup deletes the group it created, unless the builder is kept.
func (s *stepSecurityGroup) Cleanup(ctx context.Context, b *build) error {
	if b.groupID == "" || b.keep {
		return nil
	}
	return s.p.Cloud.DeleteSecurityGroup(ctx, b.groupID)
}
