package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/hardenctl/hardenctl/apply"
	"github.com/hardenctl/hardenctl/plan"
)

var (
	_ plan.Observer = (*Client)(nil)
	_ apply.Cloud   = (*Client)(nil)
)

// namesPerQuery bounds the name filters of one list request, to keep URLs short.
const namesPerQuery = 100

// ObserveSecurityGroups lists, in the token's project, the groups that carry all of
// ownerTags (rules come embedded: one request whatever their number), and the groups named
// like a wanted group that do not (one request per 100 names, id/name/tags only).
//
// Ownership is checked again on each group (all the tags, and the project): a cloud that
// ignores the tag filter shows more groups, never more owned ones.
func (c *Client) ObserveSecurityGroups(ctx context.Context, ownerTags []string, names []string) (*plan.Observed, error) {
	if c.projectID == "" {
		return nil, errNoProject
	}
	obs := &plan.Observed{}
	pages, err := groups.List(c.network, groups.ListOpts{Tags: strings.Join(ownerTags, ","), ProjectID: c.projectID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list security groups tagged %s: %w", strings.Join(ownerTags, ","), err)
	}
	owned, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, fmt.Errorf("read security group list: %w", err)
	}
	ownedIDs := map[string]bool{}
	for _, g := range owned {
		if g.ProjectID != c.projectID || !hasAll(g.Tags, ownerTags) {
			continue
		}
		ownedIDs[g.ID] = true
		obs.Owned = append(obs.Owned, observedGroup(g, true))
	}
	for start := 0; start < len(names); start += namesPerQuery {
		chunk := names[start:min(start+namesPerQuery, len(names))]
		q := url.Values{"name": chunk, "project_id": {c.projectID}, "fields": {"id", "name", "description", "tags", "project_id"}}
		u := c.network.ServiceURL("security-groups") + "?" + q.Encode()
		pages, err := pagination.NewPager(c.network, u, func(r pagination.PageResult) pagination.Page {
			return groups.SecGroupPage{LinkedPageBase: pagination.LinkedPageBase{PageResult: r}}
		}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("list security groups named like the configuration's: %w", err)
		}
		same, err := groups.ExtractGroups(pages)
		if err != nil {
			return nil, fmt.Errorf("read security group list: %w", err)
		}
		for _, g := range same {
			if !ownedIDs[g.ID] && g.ProjectID == c.projectID && slices.Contains(chunk, g.Name) {
				obs.Others = append(obs.Others, observedGroup(g, false))
			}
		}
	}
	return obs, nil
}

func observedGroup(g groups.SecGroup, withRules bool) plan.ObservedGroup {
	og := plan.ObservedGroup{ID: g.ID, Name: g.Name, Description: g.Description, Tags: g.Tags}
	if !withRules {
		return og
	}
	og.Rules = make([]plan.ObservedRule, 0, len(g.Rules))
	for _, r := range g.Rules {
		og.Rules = append(og.Rules, plan.ObservedRule{
			ID:            r.ID,
			RemoteGroupID: r.RemoteGroupID,
			Rule: plan.Rule{
				Direction: r.Direction, EtherType: r.EtherType, Protocol: r.Protocol,
				PortMin: r.PortRangeMin, PortMax: r.PortRangeMax, RemoteIPPrefix: r.RemoteIPPrefix,
				RemoteAddressGroup: r.RemoteAddressGroupID, Description: r.Description,
			}.Normalize(),
		})
	}
	return og
}

// CreateSecurityGroup creates a group and tags it as owned. Neutron gives every new group
// allow-all egress rules; their ids are returned so the caller can remove them. Neutron
// (before tags at create) needs a second request for the tags: until they are set the group's
// description is plan.CreatingDescription(tags), so a create cut short (killed, or its tag
// request failed and the delete too) leaves a group that the next plan knows as this
// configuration's orphan. When the tags cannot be set the group is deleted again.
func (c *Client) CreateSecurityGroup(ctx context.Context, name, description string, tags []string) (string, []plan.ObservedRule, error) {
	sg, err := groups.Create(ctx, c.network, groups.CreateOpts{Name: name, Description: plan.CreatingDescription(tags)}).Extract()
	if err != nil {
		return "", nil, fmt.Errorf("create security group %s: %w", name, err)
	}
	if _, err := attributestags.ReplaceAll(ctx, c.network, "security-groups", sg.ID, attributestags.ReplaceAllOpts{Tags: tags}).Extract(); err != nil {
		derr := groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID).ExtractErr()
		if derr != nil {
			return "", nil, fmt.Errorf("tag security group %s (%s): %w; deleting it again failed too (the next plan deletes it as an orphan): %v", name, sg.ID, err, derr)
		}
		return "", nil, fmt.Errorf("tag security group %s (%s), deleted it again: %w", name, sg.ID, err)
	}
	if err := c.UpdateSecurityGroup(ctx, sg.ID, description); err != nil {
		return "", nil, fmt.Errorf("created security group %s (%s): %w (the next plan sets it)", name, sg.ID, err)
	}
	defaults := observedGroup(*sg, true).Rules
	c.logger.Debug("created security group", "name", name, "id", sg.ID)
	return sg.ID, defaults, nil
}

// RecordGroupRules replaces the group's rules record (plan.TagRulesPrefix) with tag and
// keeps its other tags, after reading the group: only a group carrying all of ownerTags, in
// the token's project, is written.
func (c *Client) RecordGroupRules(ctx context.Context, id string, ownerTags []string, tag string) error {
	if c.projectID == "" {
		return errNoProject
	}
	g, err := groups.Get(ctx, c.network, id).Extract()
	if err != nil {
		return fmt.Errorf("read security group %s to record its rules: %w", id, err)
	}
	if g.ProjectID != c.projectID || !hasAll(g.Tags, ownerTags) {
		return fmt.Errorf("security group %s (%s) no longer carries %s in project %s: not hardenctl's to change", g.Name, id, strings.Join(ownerTags, ","), c.projectID)
	}
	tags := []string{tag}
	for _, t := range g.Tags {
		if !strings.HasPrefix(t, plan.TagRulesPrefix) {
			tags = append(tags, t)
		}
	}
	if _, err := attributestags.ReplaceAll(ctx, c.network, "security-groups", id, attributestags.ReplaceAllOpts{Tags: tags}).Extract(); err != nil {
		return fmt.Errorf("record the rules of security group %s (%s): %w", g.Name, id, err)
	}
	return nil
}

// DeleteOrphanGroup deletes a group that a create cut short left: only while it has no tags,
// the creating description marker and the token's project.
func (c *Client) DeleteOrphanGroup(ctx context.Context, id, marker string) error {
	if c.projectID == "" {
		return errNoProject
	}
	g, err := groups.Get(ctx, c.network, id).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check orphan security group %s: %w", id, err)
	}
	if len(g.Tags) > 0 || g.Description != marker || g.ProjectID != c.projectID {
		return fmt.Errorf("security group %s (%s) is no longer an orphan of this configuration (tags %v, description %q): not deleted", g.Name, id, g.Tags, g.Description)
	}
	return c.DeleteSecurityGroup(ctx, id)
}

// OwnedGroupRules reads a group and returns its rule ids, or an error when it does not carry
// all of ownerTags or is not in the token's project.
func (c *Client) OwnedGroupRules(ctx context.Context, id string, ownerTags []string) ([]string, error) {
	if c.projectID == "" {
		return nil, errNoProject
	}
	g, err := groups.Get(ctx, c.network, id).Extract()
	if err != nil {
		return nil, fmt.Errorf("check ownership of security group %s: %w", id, err)
	}
	if g.ProjectID != c.projectID {
		return nil, fmt.Errorf("security group %s (%s) is in project %s, not %s: not hardenctl's to change", g.Name, id, g.ProjectID, c.projectID)
	}
	if !hasAll(g.Tags, ownerTags) {
		return nil, fmt.Errorf("security group %s (%s) no longer carries %s (its tags: %v): not hardenctl's to change", g.Name, id, strings.Join(ownerTags, ","), g.Tags)
	}
	ids := make([]string, len(g.Rules))
	for i, r := range g.Rules {
		ids[i] = r.ID
	}
	return ids, nil
}

// UpdateSecurityGroup sets a group's description.
func (c *Client) UpdateSecurityGroup(ctx context.Context, id, description string) error {
	if _, err := groups.Update(ctx, c.network, id, groups.UpdateOpts{Description: &description}).Extract(); err != nil {
		return fmt.Errorf("update security group %s: %w", id, err)
	}
	return nil
}

// DeleteSecurityGroup deletes a group and, with it, its rules and every rule elsewhere that
// names it as remote group. A group that is already gone is not an error.
func (c *Client) DeleteSecurityGroup(ctx context.Context, id string) error {
	err := groups.Delete(ctx, c.network, id).ExtractErr()
	switch {
	case err == nil, gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		return nil
	case gophercloud.ResponseCodeIs(err, http.StatusConflict):
		return fmt.Errorf("delete security group %s: it is still in use (by ports of servers): %w", id, err)
	}
	return fmt.Errorf("delete security group %s: %w", id, err)
}

// CreateSecurityGroupRules creates rules in group groupID with one bulk request. When Neutron
// says one of them exists already (409), the rules are created one by one and "already
// exists" counts as success: the next run converges either way.
func (c *Client) CreateSecurityGroupRules(ctx context.Context, groupID string, specs []plan.ObservedRule) error {
	if len(specs) == 0 {
		return nil
	}
	opts := make([]rules.CreateOpts, len(specs))
	for i, s := range specs {
		opts[i] = rules.CreateOpts{
			SecGroupID: groupID, Direction: rules.RuleDirection(s.Direction), EtherType: rules.RuleEtherType(s.EtherType),
			Protocol: rules.RuleProtocol(s.Protocol), PortRangeMin: s.PortMin, PortRangeMax: s.PortMax,
			RemoteIPPrefix: s.RemoteIPPrefix, RemoteGroupID: s.RemoteGroupID, Description: s.Description,
		}
	}
	_, err := rules.CreateBulk(ctx, c.network, opts).Extract()
	if err == nil {
		return nil
	}
	if !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		return fmt.Errorf("create %d rules in security group %s: %w", len(opts), groupID, err)
	}
	c.logger.Debug("bulk rule create conflicted; creating one by one", "group", groupID)
	var errs []error
	for i, o := range opts {
		_, err := rules.Create(ctx, c.network, o).Extract()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
			errs = append(errs, fmt.Errorf("create rule %q in security group %s: %w", specs[i].Rule.String(), groupID, err))
		}
	}
	return errors.Join(errs...)
}

// DeleteSecurityGroupRule deletes one rule (Neutron has no bulk delete). A rule that is
// already gone is not an error.
func (c *Client) DeleteSecurityGroupRule(ctx context.Context, id string) error {
	err := rules.Delete(ctx, c.network, id).ExtractErr()
	if err == nil || gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	return fmt.Errorf("delete security group rule %s: %w", id, err)
}

var _ apply.QuotaReader = (*Client)(nil)

// SecurityGroupQuota reads the token's project's quota of security groups and rules (Neutron
// quota details: limit, used and reserved; reserved counts as used).
func (c *Client) SecurityGroupQuota(ctx context.Context) (apply.Quota, error) {
	if c.projectID == "" {
		return apply.Quota{}, errNoProject
	}
	type detail struct{ Limit, Used, Reserved int }
	var res struct {
		Quota struct {
			Groups detail `json:"security_group"`
			Rules  detail `json:"security_group_rule"`
		} `json:"quota"`
	}
	if _, err := c.network.Get(ctx, c.network.ServiceURL("quotas", c.projectID, "details.json"), &res, nil); err != nil {
		return apply.Quota{}, fmt.Errorf("read the security group quota of project %s: %w", c.projectID, err)
	}
	h := func(d detail) apply.Headroom { return apply.Headroom{Limit: d.Limit, Used: d.Used + d.Reserved} }
	return apply.Quota{Groups: h(res.Quota.Groups), Rules: h(res.Quota.Rules)}, nil
}
