package openstack

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/lock"
)

var _ lock.Store = (*Client)(nil)

// The cloud lock of a configuration is an empty security group (no rules, on no port) in the
// token's project, named hardenctl-lock-NAME and tagged managed-by:hardenctl and
// hardenctl-lock:NAME (not the configuration's tag: plans never see it). Its description
// holds the lease; Neutron's revision_number and If-Match make the compare-and-swap.
const lockTagPrefix = "hardenctl-lock:"

func lockTags(name string) []string { return []string{TagManagedBy, lockTagPrefix + name} }

// TagManagedBy marks every resource hardenctl owns.
const TagManagedBy = "managed-by:hardenctl"

// Load returns the lock object of name, creating it when there is none. Two first loads at
// once may both create one: a creator that then sees another lock group deletes its own and
// looks again (after a random pause), so at most one creator keeps its group. (Creators
// tag their group before they look, so of two creators the later looker always sees the
// other's group.)
func (c *Client) Load(ctx context.Context, name string) (lock.Object, error) {
	for attempt := 0; ; attempt++ {
		found, err := c.lockGroups(ctx, name)
		if err != nil {
			return lock.Object{}, err
		}
		if len(found) > 0 {
			return lockObject(found[0]), nil
		}
		sg, err := c.createLockGroup(ctx, name)
		if err != nil {
			return lock.Object{}, err
		}
		if found, err = c.lockGroups(ctx, name); err != nil {
			return lock.Object{}, err
		}
		if len(found) == 1 && found[0].ID == sg.ID {
			return lockObject(found[0]), nil
		}
		if err := groups.Delete(ctx, c.network, sg.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return lock.Object{}, fmt.Errorf("delete extra lock group %s: %w", sg.ID, err)
		}
		if attempt == 9 {
			return lock.Object{}, fmt.Errorf("create the lock group of %s: other creators kept racing", name)
		}
		if err := sleepCtx(ctx, time.Duration(50+rand.IntN(450))*time.Millisecond); err != nil {
			return lock.Object{}, err
		}
	}
}

// createLockGroup makes a lock group: tagged, and without Neutron's allow-all egress rules.
func (c *Client) createLockGroup(ctx context.Context, name string) (*groups.SecGroup, error) {
	sg, err := groups.Create(ctx, c.network, groups.CreateOpts{Name: "hardenctl-lock-" + name}).Extract()
	if err != nil {
		return nil, fmt.Errorf("create lock group for %s: %w", name, err)
	}
	if _, err := attributestags.ReplaceAll(ctx, c.network, "security-groups", sg.ID, attributestags.ReplaceAllOpts{Tags: lockTags(name)}).Extract(); err != nil {
		groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID)
		return nil, fmt.Errorf("tag lock group %s (%s), deleted it again: %w", sg.Name, sg.ID, err)
	}
	for _, r := range sg.Rules {
		if err := rules.Delete(ctx, c.network, r.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil, fmt.Errorf("empty lock group %s: %w", sg.ID, err)
		}
	}
	return sg, nil
}

// lockGroups lists the lock groups of name in the token's project, oldest first, checked
// on the groups themselves.
func (c *Client) lockGroups(ctx context.Context, name string) ([]groups.SecGroup, error) {
	if c.projectID == "" {
		return nil, errNoProject
	}
	tags := lockTags(name)
	pages, err := groups.List(c.network, groups.ListOpts{Tags: strings.Join(tags, ","), ProjectID: c.projectID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list lock groups of %s: %w", name, err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, fmt.Errorf("read lock group list: %w", err)
	}
	var out []groups.SecGroup
	for _, g := range all {
		if g.ProjectID == c.projectID && hasAll(g.Tags, tags) {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func lockObject(g groups.SecGroup) lock.Object {
	return lock.Object{ID: g.ID, Data: g.Description, Revision: g.RevisionNumber}
}

// Swap sets the lock group's description iff its revision is still obj.Revision (Neutron's
// If-Match: revision_number=N; 412 when someone else changed it first).
func (c *Client) Swap(ctx context.Context, obj lock.Object, data string) (lock.Object, error) {
	if len(data) > 255 {
		return lock.Object{}, fmt.Errorf("lock data of %d characters: Neutron keeps 255", len(data))
	}
	var res struct {
		SecurityGroup groups.SecGroup `json:"security_group"`
	}
	body := map[string]any{"security_group": map[string]any{"description": data}}
	_, err := c.network.Put(ctx, c.network.ServiceURL("security-groups", obj.ID), body, &res, &gophercloud.RequestOpts{
		OkCodes: []int{http.StatusOK}, MoreHeaders: map[string]string{"If-Match": fmt.Sprintf("revision_number=%d", obj.Revision)}})
	switch {
	case gophercloud.ResponseCodeIs(err, http.StatusPreconditionFailed):
		return lock.Object{}, fmt.Errorf("swap lock group %s at revision %d: %w", obj.ID, obj.Revision, lock.ErrConflict)
	case err != nil:
		return lock.Object{}, fmt.Errorf("swap lock group %s: %w", obj.ID, err)
	}
	return lockObject(res.SecurityGroup), nil
}
