package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
)

var _ lock.Store = (*Client)(nil)

// A claim on the cloud lock of configuration NAME is an empty security group (no rules, on
// no port) in the token's project, named hardenctl-lock-NAME and tagged managed-by:hardenctl
// and hardenctl-lock:NAME (not the configuration's tag: plans never see it). Its description
// holds the lease.
const lockTagPrefix = "hardenctl-lock:"

func lockTags(name string) []string { return []string{plan.TagManagedBy, lockTagPrefix + name} }

func lockGroupName(name string) string { return "hardenctl-lock-" + name }

// Claims lists the claims of lock name in the token's project, oldest first, checked on the
// groups themselves: the tagged ones, and the untagged ones whose description is a lease (a
// contender between its create and its tags, or killed there: package lock deletes it once
// its lease expired, force-unlock at once).
func (c *Client) Claims(ctx context.Context, name string) ([]lock.Claim, error) {
	if c.projectID == "" {
		return nil, errNoProject
	}
	pages, err := groups.List(c.network, groups.ListOpts{Name: lockGroupName(name), ProjectID: c.projectID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the claims of lock %s: %w", name, err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, fmt.Errorf("read security group list: %w", err)
	}
	tags := lockTags(name)
	var out []lock.Claim
	for _, g := range all {
		if g.Name != lockGroupName(name) || g.ProjectID != c.projectID {
			continue
		}
		if hasAll(g.Tags, tags) || len(g.Tags) == 0 && isLease(g.Description) {
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

// isLease says whether desc is a lease as package lock writes it.
func isLease(desc string) bool {
	var le struct {
		Token   string    `json:"t"`
		Expires time.Time `json:"e"`
	}
	return json.Unmarshal([]byte(desc), &le) == nil && le.Token != "" && !le.Expires.IsZero()
}

// CreateClaim makes a claim: the group (with the lease as description), its tags, and
// without Neutron's allow-all egress rules. It is listed by Claims once this returns.
func (c *Client) CreateClaim(ctx context.Context, name, data string) (lock.Claim, error) {
	if len(data) > 255 {
		return lock.Claim{}, fmt.Errorf("claim on lock %s: %d characters of lease, Neutron keeps 255", name, len(data))
	}
	sg, err := groups.Create(ctx, c.network, groups.CreateOpts{Name: lockGroupName(name), Description: data}).Extract()
	if err != nil {
		return lock.Claim{}, fmt.Errorf("create a claim on lock %s: %w", name, err)
	}
	if _, err := attributestags.ReplaceAll(ctx, c.network, "security-groups", sg.ID, attributestags.ReplaceAllOpts{Tags: lockTags(name)}).Extract(); err != nil {
		groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID)
		return lock.Claim{}, fmt.Errorf("tag the claim %s on lock %s, deleted it again: %w", sg.ID, name, err)
	}
	for _, r := range sg.Rules {
		if err := rules.Delete(ctx, c.network, r.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID)
			return lock.Claim{}, fmt.Errorf("empty the claim %s on lock %s: %w", sg.ID, name, err)
		}
	}
	return lock.Claim{ID: sg.ID, Data: data, Created: sg.CreatedAt}, nil
}

// UpdateClaim replaces a claim's lease.
func (c *Client) UpdateClaim(ctx context.Context, cl lock.Claim, data string) error {
	if len(data) > 255 {
		return fmt.Errorf("claim %s: %d characters of lease, Neutron keeps 255", cl.ID, len(data))
	}
	_, err := groups.Update(ctx, c.network, cl.ID, groups.UpdateOpts{Description: &data}).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return fmt.Errorf("update claim %s: %w", cl.ID, lock.ErrGone)
	}
	if err != nil {
		return fmt.Errorf("update claim %s: %w", cl.ID, err)
	}
	return nil
}

// DeleteClaim deletes a claim's group.
func (c *Client) DeleteClaim(ctx context.Context, cl lock.Claim) error {
	return c.DeleteSecurityGroup(ctx, cl.ID)
}
