package openstack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/plan"
)

var _ plan.FleetObserver = (*Client)(nil)

// ObserveServers lists the servers carrying all of ownerTags: one list call.
// Each server's tags and project are checked again here.
func (c *Client) ObserveServers(ctx context.Context, ownerTags []string) ([]plan.ObservedServer, error) {
	if err := c.needCompute(); err != nil {
		return nil, err
	}
	if c.projectID == "" {
		return nil, errNoProject
	}
	pages, err := servers.List(c.compute, servers.ListOpts{Tags: strings.Join(ownerTags, ",")}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list servers tagged %s: %w", strings.Join(ownerTags, ","), err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, fmt.Errorf("read server list: %w", err)
	}
	out := make([]plan.ObservedServer, 0, len(all))
	for _, s := range all {
		if s.TenantID != c.projectID || s.Tags == nil || !hasAll(*s.Tags, ownerTags) {
			continue
		}
		srv := toServer(&s)
		o := plan.ObservedServer{ID: s.ID, Name: s.Name, Status: s.Status, ImageID: srv.ImageID, Address: srv.Address}
		if s.Tags != nil {
			o.Tags = *s.Tags
		}
		out = append(out, o)
	}
	return out, nil
}

// ResolveImage finds the newest active image: a managed one (built by configuration cfg in
// the token's project) or a Glance image of that name.
func (c *Client) ResolveImage(ctx context.Context, cfg, name string, managed bool) (string, error) {
	q := images.ImageQuery{Name: name}
	if managed {
		q = images.OwnedQuery(cfg, name)
	}
	found, err := c.FindImages(ctx, q)
	if err != nil {
		return "", err
	}
	for _, im := range found {
		if im.Status == "active" {
			return im.ID, nil
		}
	}
	if managed {
		return "", nil // not built yet: the plan says so
	}
	return "", fmt.Errorf("no active Glance image named %q", name)
}

// CheckServerOwned reads a server and fails unless it carries all of ownerTags and is in the
// token's project.
func (c *Client) CheckServerOwned(ctx context.Context, id string, ownerTags []string) error {
	if c.projectID == "" {
		return errNoProject
	}
	s, err := servers.Get(ctx, c.compute, id).Extract()
	if err != nil {
		return fmt.Errorf("check ownership of server %s: %w", id, err)
	}
	if s.TenantID != c.projectID {
		return fmt.Errorf("server %s (%s) is in project %s, not %s: not hardenctl's to change", s.Name, id, s.TenantID, c.projectID)
	}
	if s.Tags == nil || !hasAll(*s.Tags, ownerTags) {
		return fmt.Errorf("server %s (%s) no longer carries %s: not hardenctl's to change", s.Name, id, strings.Join(ownerTags, ","))
	}
	return nil
}

// CreateFleetServer boots a fleet server.
func (c *Client) CreateFleetServer(ctx context.Context, spec plan.ServerSpec, groupID string, tags []string) (string, error) {
	return c.CreateServer(ctx, images.ServerSpec{Name: spec.Name, ImageID: spec.ImageID, Flavor: spec.Flavor,
		Network: spec.Network, SecurityGroups: []string{groupID}, KeyName: spec.KeyPair, Tags: tags,
		Metadata: map[string]string{"hardenctl_fleet": spec.Fleet}})
}

// WaitServerActive waits for ACTIVE (10 minutes at most).
func (c *Client) WaitServerActive(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	_, err := c.WaitServer(ctx, id, "ACTIVE")
	return err
}

// RebuildServer rebuilds a server onto imageID (its root disk is wiped; id, ports and
// addresses stay) and waits until it is ACTIVE on the new image.
func (c *Client) RebuildServer(ctx context.Context, id, imageID string) error {
	if _, err := servers.Rebuild(ctx, c.compute, id, servers.RebuildOpts{ImageRef: imageID}).Extract(); err != nil {
		return fmt.Errorf("rebuild server %s onto image %s: %w", id, imageID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for {
		s, err := c.WaitServer(ctx, id, "ACTIVE")
		if err != nil {
			return err
		}
		if s.ImageID == imageID {
			return nil
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return fmt.Errorf("wait for server %s to run image %s: %w", id, imageID, err)
		}
	}
}
