package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"

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
	claims, err := c.listEmptyGroups(ctx, lockGroupName(name), lockTags(name), isLease)
	if err != nil {
		return nil, fmt.Errorf("list the claims of lock %s: %w", name, err)
	}
	return claims, nil
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
	cl, err := c.createEmptyGroup(ctx, lockGroupName(name), data, lockTags(name))
	if err != nil {
		return lock.Claim{}, fmt.Errorf("claim lock %s: %w", name, err)
	}
	return cl, nil
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
