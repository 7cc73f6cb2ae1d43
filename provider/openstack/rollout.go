package openstack

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	glance "github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/hardenctl/hardenctl/rollout"
)

var (
	_ rollout.Cloud       = (*Client)(nil)
	_ rollout.AuditSource = (*Client)(nil)
)

// ListFleet lists the servers carrying all of tags in one call, checked again on each
// (tags and the token's project). A volume-backed server has no image in Nova's answer
// (ImageID stays empty: the rollout goes by its marks).
func (c *Client) ListFleet(ctx context.Context, tags []string) ([]rollout.Server, error) {
	all, err := c.ownedServers(ctx, tags, "servers")
	if err != nil {
		return nil, err
	}
	out := make([]rollout.Server, 0, len(all))
	for i := range all {
		out = append(out, toRolloutServer(&all[i]))
	}
	return out, nil
}

func toRolloutServer(s *servers.Server) rollout.Server {
	srv := toServer(s)
	return rollout.Server{ID: s.ID, Name: s.Name, Address: srv.Address, Status: s.Status, TaskState: s.TaskState,
		ImageID: srv.ImageID, VolumeBacked: srv.ImageID == "", Metadata: s.Metadata}
}

// Rebuild rebuilds server id onto imageID; metadata becomes its whole metadata (Nova's
// rebuild replaces it). It returns Nova's request id.
func (c *Client) Rebuild(ctx context.Context, id, imageID string, metadata map[string]string) (string, error) {
	if err := c.needCompute(); err != nil {
		return "", err
	}
	r := servers.Rebuild(ctx, c.compute, id, servers.RebuildOpts{ImageRef: imageID, Metadata: metadata})
	if r.Err != nil {
		return "", fmt.Errorf("rebuild server %s onto image %s: %w", id, imageID, r.Err)
	}
	return r.Header.Get("X-Openstack-Request-Id"), nil
}

// WaitRebuild polls (0.5 s, then up to 3 s apart) until the rebuild is over: the server
// ACTIVE with no task on imageID, or, for a volume-backed server (no image in Nova's
// answer), ACTIVE with the rebuild's instance action finished. ERROR fails at once with
// Nova's fault.
func (c *Client) WaitRebuild(ctx context.Context, s rollout.Server, imageID, requestID string) error {
	delay := 500 * time.Millisecond
	for {
		srv, err := servers.Get(ctx, c.compute, s.ID).Extract()
		if err != nil {
			return fmt.Errorf("wait for the rebuild of server %s: %w", s.Name, err)
		}
		if srv.Status == "ERROR" {
			return fmt.Errorf("server %s (%s) went to ERROR during its rebuild: %s", s.Name, s.ID, srv.Fault.Message)
		}
		if srv.Status == "ACTIVE" && srv.TaskState == "" {
			got := toServer(srv).ImageID
			switch {
			case got == imageID:
				return nil
			case got == "":
				done, err := c.rebuildFinished(ctx, s.ID, requestID)
				if err != nil {
					return fmt.Errorf("wait for the rebuild of volume-backed server %s: %w", s.Name, err)
				}
				if done {
					return nil
				}
			}
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return fmt.Errorf("wait for server %s to run image %s (it is %s): %w", s.Name, imageID, srv.Status, err)
		}
		delay = min(delay*3/2, 3*time.Second)
	}
}

// rebuildFinished says whether the rebuild action requestID (or, with "", the server's
// latest rebuild, if it has one) has every event finished without an error; one that
// failed is an error.
func (c *Client) rebuildFinished(ctx context.Context, id, requestID string) (bool, error) {
	if requestID == "" {
		acts, err := c.listActions(ctx, id)
		if err != nil {
			return false, err
		}
		for _, a := range acts { // newest first
			if a.Action == "rebuild" {
				requestID = a.RequestID
				break
			}
		}
		if requestID == "" {
			return true, nil
		}
	}
	a, err := c.action(ctx, id, requestID)
	if err != nil {
		return false, err
	}
	if a.Failed {
		return false, fmt.Errorf("rebuild %s failed (instance action events)", requestID)
	}
	return !a.Finish.IsZero(), nil
}

// SetMetadata sets items on a server, keeping its other metadata.
func (c *Client) SetMetadata(ctx context.Context, id string, items map[string]string) error {
	if _, err := servers.UpdateMetadata(ctx, c.compute, id, servers.MetadataOpts(items)).Extract(); err != nil {
		return fmt.Errorf("set metadata of server %s: %w", id, err)
	}
	return nil
}

// ImageExists says whether the image exists and is active (a deactivated or deleted one
// cannot be rebuilt onto).
func (c *Client) ImageExists(ctx context.Context, id string) (bool, error) {
	if err := c.needImage(); err != nil {
		return false, err
	}
	im, err := glance.Get(ctx, c.image, id).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read image %s: %w", id, err)
	}
	return im.Status == glance.ImageStatusActive, nil
}

// An image held for rollouts carries one property per holder; hardenctl_protected says the
// protection is hardenctl's (an image protected by someone else stays protected).
const (
	holdPrefix      = "hardenctl_hold_"
	protectedByHold = "hardenctl_protected"
)

// ProtectImage adds holder's hold and makes the image protected.
func (c *Client) ProtectImage(ctx context.Context, id, holder string) error {
	if err := c.needImage(); err != nil {
		return err
	}
	im, err := glance.Get(ctx, c.image, id).Extract()
	if err != nil {
		return fmt.Errorf("read image %s: %w", id, err)
	}
	if im.Owner != c.projectID {
		return fmt.Errorf("protect image %s: %w (owner %s)", id, rollout.ErrImageNotOwned, im.Owner)
	}
	var ops glance.UpdateOpts
	if _, ok := im.Properties[holdPrefix+holder]; !ok {
		ops = append(ops, glance.UpdateImageProperty{Op: glance.AddOp, Name: holdPrefix + holder, Value: "1"})
	}
	if !im.Protected {
		ops = append(ops, glance.ReplaceImageProtected{NewProtected: true})
		if _, ok := im.Properties[protectedByHold]; !ok {
			ops = append(ops, glance.UpdateImageProperty{Op: glance.AddOp, Name: protectedByHold, Value: "1"})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := glance.Update(ctx, c.image, id, ops).Extract(); err != nil {
		return fmt.Errorf("protect image %s for %s: %w", id, holder, err)
	}
	return nil
}

// ReleaseImage removes holder's hold; with no hold left, a protection that was hardenctl's
// is lifted.
func (c *Client) ReleaseImage(ctx context.Context, id, holder string) error {
	if err := c.needImage(); err != nil {
		return err
	}
	im, err := glance.Get(ctx, c.image, id).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read image %s: %w", id, err)
	}
	var ops glance.UpdateOpts
	if _, ok := im.Properties[holdPrefix+holder]; ok {
		ops = append(ops, glance.UpdateImageProperty{Op: glance.RemoveOp, Name: holdPrefix + holder})
	}
	others := false
	for k := range im.Properties {
		others = others || strings.HasPrefix(k, holdPrefix) && k != holdPrefix+holder
	}
	if _, ours := im.Properties[protectedByHold]; ours && !others {
		ops = append(ops, glance.UpdateImageProperty{Op: glance.RemoveOp, Name: protectedByHold})
		if im.Protected {
			ops = append(ops, glance.ReplaceImageProtected{NewProtected: false})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := glance.Update(ctx, c.image, id, ops).Extract(); err != nil {
		return fmt.Errorf("release image %s for %s: %w", id, holder, err)
	}
	return nil
}

// InstanceActions returns the server's instance actions, newest first; a rebuild's finish
// time and failure come from its events (one read per rebuild).
func (c *Client) InstanceActions(ctx context.Context, id string) ([]rollout.Action, error) {
	acts, err := c.listActions(ctx, id)
	if err != nil {
		return nil, err
	}
	for i, a := range acts {
		if a.Action != "rebuild" {
			continue
		}
		d, err := c.action(ctx, id, a.RequestID)
		if err != nil {
			return nil, err
		}
		acts[i].Finish, acts[i].Failed = d.Finish, d.Failed
	}
	return acts, nil
}

func (c *Client) listActions(ctx context.Context, id string) ([]rollout.Action, error) {
	if err := c.needCompute(); err != nil {
		return nil, err
	}
	pages, err := instanceactions.List(c.compute, id, nil).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the instance actions of server %s: %w", id, err)
	}
	all, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil {
		return nil, fmt.Errorf("read the instance actions of server %s: %w", id, err)
	}
	out := make([]rollout.Action, 0, len(all))
	for _, a := range all {
		out = append(out, rollout.Action{ServerID: id, Action: a.Action, RequestID: a.RequestID, Start: a.StartTime})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out, nil
}

// action reads one instance action with its events: finished when every event has a finish
// time, failed when one's result is Error.
func (c *Client) action(ctx context.Context, id, requestID string) (rollout.Action, error) {
	d, err := instanceactions.Get(ctx, c.compute, id, requestID).Extract()
	if err != nil {
		return rollout.Action{}, fmt.Errorf("read instance action %s of server %s: %w", requestID, id, err)
	}
	a := rollout.Action{ServerID: id, Action: d.Action, RequestID: d.RequestID, Start: d.StartTime}
	if d.Events == nil || len(*d.Events) == 0 {
		return a, nil
	}
	var last time.Time
	for _, e := range *d.Events {
		if e.FinishTime.IsZero() {
			return a, nil
		}
		if e.FinishTime.After(last) {
			last = e.FinishTime
		}
		if strings.EqualFold(e.Result, "error") {
			a.Failed = true
		}
	}
	a.Finish = last
	return a, nil
}
