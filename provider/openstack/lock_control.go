package openstack

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
)

var _ lock.ControlStore = (*Client)(nil)

// A control request to the holder of lock NAME (a rollout's pause, resume, abort,
// rollback) is an empty security group like a claim, named hardenctl-ctl-NAME and tagged
// managed-by:hardenctl and hardenctl-ctl:NAME; its description holds the request. Being
// objects of their own, requests never touch the holder's claim (no race with its lease
// renewals: Neutron's If-Match is not atomic).
const controlTagPrefix = "hardenctl-ctl:"

func controlTags(name string) []string { return []string{plan.TagManagedBy, controlTagPrefix + name} }

func controlGroupName(name string) string { return "hardenctl-ctl-" + name }

// ControlRequests lists the requests on lock name in the token's project, oldest first: the
// tagged groups, and the untagged ones whose description is a request (a sender killed
// between its create and its tags; the holder discards or obeys it like the others).
func (c *Client) ControlRequests(ctx context.Context, name string) ([]lock.Claim, error) {
	return c.listEmptyGroups(ctx, controlGroupName(name), controlTags(name), lock.IsRequest)
}

// CreateControlRequest makes a request object; it is listed once this returns.
func (c *Client) CreateControlRequest(ctx context.Context, name, data string) (lock.Claim, error) {
	return c.createEmptyGroup(ctx, controlGroupName(name), data, controlTags(name))
}

// DeleteControlRequest deletes a request object.
func (c *Client) DeleteControlRequest(ctx context.Context, cl lock.Claim) error {
	return c.DeleteSecurityGroup(ctx, cl.ID)
}

// listEmptyGroups lists the groups named name in the token's project that carry all of
// tags, or no tags and a description that untagged says is one of them; oldest first.
func (c *Client) listEmptyGroups(ctx context.Context, name string, tags []string, untagged func(string) bool) ([]lock.Claim, error) {
	if c.projectID == "" {
		return nil, errNoProject
	}
	pages, err := groups.List(c.network, groups.ListOpts{Name: name, ProjectID: c.projectID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list security groups %s: %w", name, err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, fmt.Errorf("read security group list: %w", err)
	}
	var out []lock.Claim
	for _, g := range all {
		if g.Name != name || g.ProjectID != c.projectID {
			continue
		}
		if hasAll(g.Tags, tags) || len(g.Tags) == 0 && untagged(g.Description) {
			out = append(out, lock.Claim{ID: g.ID, Data: g.Description, Created: g.CreatedAt})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// createEmptyGroup makes a group named name with data as its description and tags, and
// without Neutron's allow-all egress rules (it is on no port, but stays inert if ever put on
// one).
func (c *Client) createEmptyGroup(ctx context.Context, name, data string, tags []string) (lock.Claim, error) {
	if len(data) > 255 {
		return lock.Claim{}, fmt.Errorf("%s: %d characters of data, Neutron keeps 255", name, len(data))
	}
	sg, err := groups.Create(ctx, c.network, groups.CreateOpts{Name: name, Description: data}).Extract()
	if err != nil {
		return lock.Claim{}, fmt.Errorf("create security group %s: %w", name, err)
	}
	if _, err := attributestags.ReplaceAll(ctx, c.network, "security-groups", sg.ID, attributestags.ReplaceAllOpts{Tags: tags}).Extract(); err != nil {
		groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID)
		return lock.Claim{}, fmt.Errorf("tag security group %s (%s), deleted it again: %w", name, sg.ID, err)
	}
	for _, r := range sg.Rules {
		if err := rules.Delete(ctx, c.network, r.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID)
			return lock.Claim{}, fmt.Errorf("empty security group %s (%s): %w", name, sg.ID, err)
		}
	}
	return lock.Claim{ID: sg.ID, Data: data, Created: sg.CreatedAt}, nil
}
