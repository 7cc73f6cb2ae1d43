package images

import (
	"context"
	"fmt"
	"os"
)

// stepPrepare makes the build's private work directory (mode 0700): the build's key and
// known_hosts go there.
type stepPrepare struct{}

func (*stepPrepare) Name() string { return "prepare" }

func (s *stepPrepare) Run(ctx context.Context, b *build) error {
	dir, err := os.MkdirTemp("", buildPrefix(b.spec.Config))
	if err != nil {
		return fmt.Errorf("make a private work directory: %w", err)
	}
	b.workDir = dir
	return nil
}

// Cleanup removes the work directory, unless the builder is kept (its key is in it).
func (s *stepPrepare) Cleanup(_ context.Context, b *build) error {
	if b.workDir == "" || b.keep {
		return nil
	}
	return os.RemoveAll(b.workDir)
}
