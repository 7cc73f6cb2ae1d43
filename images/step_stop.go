package images

import "context"

// stepStop stops the builder before its snapshot.
type stepStop struct {
	noCleanup
	p *Pipeline
}

func (*stepStop) Name() string { return "stop builder" }

func (s *stepStop) Run(ctx context.Context, b *build) error {
	return s.p.Cloud.StopServer(ctx, b.server.ID)
}
