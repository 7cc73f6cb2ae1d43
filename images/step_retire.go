package images

import (
	"context"
	"errors"
)

// retire deactivates (or deletes) the managed images of this name beyond the newest Keep.
// stepRetire deactivates (or deletes) the managed images of this name beyond the newest Keep.
type stepRetire struct {
	noCleanup
	p *Pipeline
}

func (*stepRetire) Name() string { return "retire old images" }

func (s *stepRetire) Run(ctx context.Context, b *build) error {
	p := s.p
	if b.spec.Keep <= 0 {
		return nil
	}
	q := OwnedQuery(b.spec.Config, b.spec.Name)
	all, err := p.Cloud.FindImages(ctx, q)
	if err != nil {
		return err
	}
	kept := 0
	var errs []error
	for _, im := range all { // newest first
		if im.Status != "active" || !q.Owns(im) {
			continue
		}
		if kept < b.spec.Keep {
			kept++
			continue
		}
		if b.spec.Retire == "delete" {
			err = p.Cloud.DeleteImage(ctx, im.ID)
		} else {
			err = p.Cloud.DeactivateImage(ctx, im.ID)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.retired = append(b.retired, im.ID)
	}
	return errors.Join(errs...)
}
