package images

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// stepResolveSource finds the one active image the spec selects as the source.
type stepResolveSource struct {
	noCleanup
	p *Pipeline
}

func (*stepResolveSource) Name() string { return "resolve source" }

func (s *stepResolveSource) Run(ctx context.Context, b *build) error {
	p := s.p
	found, err := p.Cloud.FindImages(ctx, b.spec.Source)
	if err != nil {
		return err
	}
	var active []Image
	for _, im := range found {
		if im.Status == "active" {
			active = append(active, im)
		}
	}
	switch {
	case len(active) == 0:
		return fmt.Errorf("no active source image matches %s", describeQuery(b.spec.Source))
	case len(active) > 1 && !b.spec.MostRecent:
		return fmt.Errorf("%d images match %s; set most_recent = true to take the newest, or narrow the source", len(active), describeQuery(b.spec.Source))
	}
	b.source = active[0] // FindImages sorts newest first
	return nil
}

func describeQuery(q ImageQuery) string {
	var parts []string
	if q.Name != "" {
		parts = append(parts, fmt.Sprintf("name %q", q.Name))
	}
	if len(q.Tags) > 0 {
		parts = append(parts, fmt.Sprintf("tags %v", q.Tags))
	}
	keys := make([]string, 0, len(q.Properties))
	for k := range q.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%s", k, q.Properties[k]))
	}
	return strings.Join(parts, ", ")
}
