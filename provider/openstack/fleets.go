package openstack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/plan"
)

var _ plan.FleetObserver = (*Client)(nil)

// ObserveServers lists the servers carrying all of ownerTags: one list call.
// Each server's tags and project are checked again here.
func (c *Client) ObserveServers(ctx context.Context, ownerTags []string) ([]plan.ObservedServer, error) {
	all, err := c.ownedServers(ctx, ownerTags, "servers")
	if err != nil {
		return nil, err
	}
	out := make([]plan.ObservedServer, 0, len(all))
	for i := range all {
		s := &all[i]
		srv := toServer(s)
		out = append(out, plan.ObservedServer{ID: s.ID, Name: s.Name, Status: s.Status, ImageID: srv.ImageID, Address: srv.Address, Tags: *s.Tags})
	}
	return out, nil
}

// ownedServers is the one list of the servers carrying all of tags in the token's project
// (one call; tags and project checked again on each server, not only by Nova's filter).
// what names them in errors ("servers", "builders").
func (c *Client) ownedServers(ctx context.Context, tags []string, what string) ([]servers.Server, error) {
	if err := c.needCompute(); err != nil {
		return nil, err
	}
	if c.projectID == "" {
		return nil, errNoProject
	}
	pages, err := servers.List(c.compute, servers.ListOpts{Tags: strings.Join(tags, ",")}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s tagged %s: %w", what, strings.Join(tags, ","), err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, fmt.Errorf("read server list: %w", err)
	}
	out := all[:0]
	for _, s := range all {
		if s.TenantID == c.projectID && s.Tags != nil && hasAll(*s.Tags, tags) {
			out = append(out, s)
		}
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
// addresses stay) and waits until Nova has finished the rebuild (its instance action) and
// the server is ACTIVE. A volume-backed server is rebuilt with microversion 2.93 (refused
// before the request when the cloud lacks it); Nova keeps its image field empty, which is
// why the wait is on the action, not on the server showing the new image.
func (c *Client) RebuildServer(ctx context.Context, id, imageID string) error {
	if err := c.needCompute(); err != nil {
		return err
	}
	s, err := servers.Get(ctx, c.compute, id).Extract()
	if err != nil {
		return fmt.Errorf("rebuild server %s: read it: %w", id, err)
	}
	client := c.compute
	if volumeBacked(s) {
		if !c.computeSupports(computeVolumeRebuildMicroversion) {
			return fmt.Errorf("rebuild server %s (%s): it boots from a volume, and rebuilding it onto another image needs compute API microversion %s; the cloud supports up to %s",
				s.Name, id, computeVolumeRebuildMicroversion, c.computeMax)
		}
		vc := *c.compute
		vc.Microversion = computeVolumeRebuildMicroversion
		client = &vc
	}
	res := servers.Rebuild(ctx, client, id, servers.RebuildOpts{ImageRef: imageID})
	if res.Err != nil {
		return fmt.Errorf("rebuild server %s onto image %s: %w", id, imageID, res.Err)
	}
	requestID := res.Header.Get("X-Openstack-Request-Id")
	if requestID == "" {
		requestID = res.Header.Get("X-Compute-Request-Id")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := c.waitAction(ctx, id, requestID, "rebuild"); err != nil {
		return err
	}
	_, err = c.WaitServer(ctx, id, "ACTIVE")
	return err
}

// volumeBacked: Nova shows no image for a server booted from a volume.
func volumeBacked(s *servers.Server) bool {
	id, _ := s.Image["id"].(string)
	return id == ""
}

// waitAction polls (0.5 s, then up to 3 s apart) the server's instance action of request
// requestID (without one: its newest action named action) until Nova has finished it: a
// compute event of it finished and none still running. An event that ended in error fails
// the wait with Nova's message.
func (c *Client) waitAction(ctx context.Context, serverID, requestID, action string) error {
	delay := 500 * time.Millisecond
	for {
		a, err := c.instanceAction(ctx, serverID, requestID, action)
		switch {
		case gophercloud.ResponseCodeIs(err, http.StatusNotFound) || (err == nil && a == nil):
			// not recorded yet
		case err != nil:
			return fmt.Errorf("wait for the %s of server %s: %w", action, serverID, err)
		default:
			done, failed := actionState(a)
			if failed != "" {
				return fmt.Errorf("%s of server %s failed: %s", action, serverID, failed)
			}
			if done {
				return nil
			}
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return fmt.Errorf("wait for the %s of server %s to finish: %w", action, serverID, err)
		}
		delay = min(delay*3/2, 3*time.Second)
	}
}

func (c *Client) instanceAction(ctx context.Context, serverID, requestID, action string) (*instanceactions.InstanceActionDetail, error) {
	if requestID == "" {
		pages, err := instanceactions.List(c.compute, serverID, nil).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		all, err := instanceactions.ExtractInstanceActions(pages)
		if err != nil {
			return nil, err
		}
		var newest time.Time
		for _, a := range all {
			if a.Action == action && (requestID == "" || a.StartTime.After(newest)) {
				requestID, newest = a.RequestID, a.StartTime
			}
		}
		if requestID == "" {
			return nil, nil
		}
	}
	a, err := instanceactions.Get(ctx, c.compute, serverID, requestID).Extract()
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// actionState says whether an instance action is finished (a compute_ event finished, no
// event running) or failed (an event's result is Error: the action's message, else which).
func actionState(a *instanceactions.InstanceActionDetail) (done bool, failed string) {
	if a.Events == nil {
		return false, ""
	}
	computeDone, running := false, false
	for _, ev := range *a.Events {
		if strings.EqualFold(ev.Result, "Error") {
			if a.Message != "" {
				return true, fmt.Sprintf("%s (%s)", a.Message, ev.Event)
			}
			return true, ev.Event + " ended in error"
		}
		if ev.FinishTime.IsZero() {
			running = true
		} else if strings.HasPrefix(ev.Event, "compute_") {
			computeDone = true
		}
	}
	return computeDone && !running, ""
}
