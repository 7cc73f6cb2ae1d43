package images

import (
	"context"
	"strconv"
	"time"
)

// stepSnapshot snapshots the stopped builder and publishes the image: score, profile and
// provenance as properties, the ownership tags last.
type stepSnapshot struct {
	p *Pipeline
}

func (*stepSnapshot) Name() string { return "snapshot" }

func (s *stepSnapshot) Run(ctx context.Context, b *build) error {
	p := s.p
	name := b.spec.Name
	id, err := p.Cloud.Snapshot(ctx, b.server.ID, name, map[string]string{propPrefix + "build": b.id, propBuildConfig: b.spec.Config})
	if err != nil {
		return err
	}
	b.imageID = id
	if _, err := p.Cloud.WaitImage(ctx, id); err != nil {
		return err
	}
	r := b.scan.Result
	props := map[string]string{
		propPrefix + "profile":        b.spec.Profile.Name,
		propPrefix + "scap_profile":   r.Profile,
		propPrefix + "datastream":     b.scan.Datastream.Name,
		propPrefix + "datastream_sha": b.scan.Datastream.SHA256,
		propPrefix + "score":          strconv.FormatFloat(r.Score, 'f', 2, 64),
		propPrefix + "scoring_system": r.ScoringSystem,
		propPrefix + "min_score":      strconv.FormatFloat(b.spec.MinScore, 'f', 2, 64),
		propPrefix + "failed_high":    strconv.Itoa(r.Failed.High),
		propPrefix + "failed_medium":  strconv.Itoa(r.Failed.Medium),
		propPrefix + "failed_low":     strconv.Itoa(r.Failed.Low),
		propPrefix + "source_image":   b.source.ID,
		propPrefix + "source_name":    b.source.Name,
		propPrefix + "build":          b.id,
		propPrefix + "built_at":       p.Now().UTC().Format(time.RFC3339),
	}
	tags := append(ownerTags(b.spec.Config), tagImage+b.spec.Name)
	if err := p.Cloud.SetImageProperties(ctx, id, props, tags); err != nil {
		return err
	}
	im, err := p.Cloud.WaitImage(ctx, id)
	if err != nil {
		return err
	}
	b.image = im
	return nil
}

// Cleanup deletes a half-made image (one that never got its tags): a published image stays.
func (s *stepSnapshot) Cleanup(ctx context.Context, b *build) error {
	if b.imageID == "" || b.image.ID != "" {
		return nil
	}
	return s.p.Cloud.DeleteImage(ctx, b.imageID)
}
