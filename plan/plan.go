package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/config"
)

// Action is what a change does to a resource.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	NoOp   Action = "no-op"
)

// Symbol is the one-character mark the text rendering shows for the action.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	case Rebuild:
		return "-/+"
	}
	return " "
}

// Reason says why a change is in the plan.
type Reason string

const (
	ReasonNew      Reason = "new-in-config"       // the configuration has it, the cloud does not
	ReasonDrift    Reason = "drift"               // the cloud differs from the configuration (changed or added by hand)
	ReasonRemoved  Reason = "removed-from-config" // hardenctl made it, the configuration no longer has it
	ReasonDestroy  Reason = "destroy"             // hardenctl destroy
	ReasonDup      Reason = "duplicate"           // a second owned group of the same name
	ReasonOrphan   Reason = "orphan"              // an untagged group an interrupted create of this configuration left
	ReasonUnchange Reason = "unchanged"
)

// Resource kinds.
const (
	KindGroup = "security_group"
	KindRule  = "security_group_rule"
)

// Change is one planned action on one resource.
type Change struct {
	Action Action `json:"action"`
	Reason Reason `json:"reason"`
	Kind   string `json:"kind"`
	// Address is where the resource comes from in the configuration ("zone.app", "bastion"),
	// or the group's name when the configuration no longer has it.
	Address string `json:"address"`
	// Group is the Neutron name of the security group (of the rule); never set for servers.
	Group   string `json:"group,omitempty"`
	GroupID string `json:"group_id,omitempty"` // known when the group exists
	// ServerName is the Nova name of the server (server changes only).
	ServerName string `json:"server_name,omitempty"`
	ID         string `json:"id,omitempty"` // the resource's id, for updates and deletes
	// Description is the group's new description (group create and update).
	Description string `json:"description,omitempty"`
	// OldDescription is the group's description in the cloud (group update).
	OldDescription string `json:"old_description,omitempty"`
	Rule           *Rule  `json:"rule,omitempty"`  // for rule changes
	Rules          int    `json:"rules,omitempty"` // for a group delete: how many rules go with it
	// RulesTag is the record of the group's rules (RulesTag) that apply writes on the group
	// once its rule changes are done, when the group lacks it (group create, update, no-op).
	RulesTag string `json:"rules_tag,omitempty"`
	// Server is the wanted server (server create and rebuild).
	Server *ServerSpec `json:"server,omitempty"`
	// Detail explains the change to people (what a rebuild wipes and keeps, why a delete).
	Detail string `json:"detail,omitempty"`
}

// Conflict is a resource hardenctl would manage but does not own: it is shown, never touched.
type Conflict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	ID      string `json:"id"`
	Address string `json:"address"`
	Detail  string `json:"detail"`
	// Description and Tags are the resource's, as observed.
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// FormatVersion is the version of the plan file and JSON format. Version 2: a server
// change names its server in server_name (version 1 put it in group).
const FormatVersion = 2

// Plan is plain data: everything apply will do, and the fingerprint of what the cloud looked
// like when it was made, so a stale plan can be refused.
type Plan struct {
	FormatVersion  int        `json:"format_version"`
	Config         string     `json:"config"`
	CreatedAt      time.Time  `json:"created_at"`
	Destroy        bool       `json:"destroy,omitempty"`
	ObservedDigest string     `json:"observed_digest"`
	Changes        []Change   `json:"changes"`
	Conflicts      []Conflict `json:"conflicts,omitempty"`
	// Warnings are things left out of the plan, and why.
	Warnings []string `json:"warnings,omitempty"`
}

// Summary counts resources to add, change and destroy, like Terraform's summary line.
func (p *Plan) Summary() (add, change, destroy int) {
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			add++
		case Update, Rebuild:
			change++
		case Delete:
			destroy++
		}
	}
	return add, change, destroy
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	a, c, d := p.Summary()
	return a+c+d > 0
}

// ObservedGroup is a security group as the cloud has it.
type ObservedGroup struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Tags        []string       `json:"tags"`
	Rules       []ObservedRule `json:"rules"`
}

// ObservedRule is a rule as the cloud has it. Rule.RemoteGroup is empty; RemoteGroupID
// holds the remote group's id, which the diff resolves to a name.
type ObservedRule struct {
	ID            string `json:"id"`
	RemoteGroupID string `json:"remote_group_id,omitempty"`
	Rule
}

// Observed is what the cloud has that concerns one configuration.
type Observed struct {
	// Owned are the groups carrying this configuration's ownership tags, with their rules.
	Owned []ObservedGroup
	// Others are groups that have one of the wanted names but not the ownership tags.
	Others []ObservedGroup
	// Servers are the servers carrying this configuration's ownership tags.
	Servers []ObservedServer
}

// Observer reads the cloud. The OpenStack provider satisfies it with one list call for the
// owned groups (rules included) and one for same-named groups, whatever the number of rules.
type Observer interface {
	ObserveSecurityGroups(ctx context.Context, ownerTags []string, names []string) (*Observed, error)
}

// Options change what Make plans.
type Options struct {
	Destroy bool      // plan the removal of everything the configuration owns
	Now     time.Time // the plan's creation time (zero: time.Now())
}

// Make observes the cloud and plans the changes that bring it to the configuration. Servers
// are observed only when the configuration has fleets (or when destroying and obs can), so
// a zones-only plan costs two list calls.
func Make(ctx context.Context, cfg *config.Config, obs Observer, opts Options) (*Plan, error) {
	desired := Desired(cfg)
	names := make([]string, len(desired))
	for i, g := range desired {
		names[i] = g.Name
	}
	observed, err := obs.ObserveSecurityGroups(ctx, OwnerTags(cfg.Name), names)
	if err != nil {
		return nil, fmt.Errorf("observe security groups of %s: %w", cfg.Name, err)
	}
	if opts.Destroy {
		desired = nil
	}
	p := Diff(desired, observed)
	adoptOrphans(p, OwnerTags(cfg.Name))
	if fo, ok := obs.(FleetObserver); ok && (len(cfg.Fleets) > 0 || opts.Destroy) {
		servers, err := diffFleets(ctx, cfg, fo, opts.Destroy, p)
		if err != nil {
			return nil, err
		}
		observed.Servers = servers
		p.ObservedDigest = Digest(observed)
	}
	p.Config = cfg.Name
	p.Destroy = opts.Destroy
	p.CreatedAt = opts.Now
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	if opts.Destroy {
		for i := range p.Changes {
			p.Changes[i].Reason = ReasonDestroy
		}
	}
	return p, nil
}

// Diff compares desired groups with observed ones. It is pure: same input, same plan.
func Diff(desired []Group, obs *Observed) *Plan {
	p := &Plan{FormatVersion: FormatVersion, ObservedDigest: Digest(obs), Changes: []Change{}}
	nameByID := map[string]string{}
	owned := map[string]*ObservedGroup{}
	var dups []*ObservedGroup
	sorted := append([]ObservedGroup(nil), obs.Owned...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Name != sorted[j].Name {
			return sorted[i].Name < sorted[j].Name
		}
		return sorted[i].ID < sorted[j].ID
	})
	for i := range sorted {
		g := &sorted[i]
		nameByID[g.ID] = g.Name
		if owned[g.Name] != nil {
			dups = append(dups, g)
			continue
		}
		owned[g.Name] = g
	}
	wanted := map[string]bool{}
	for _, d := range desired {
		wanted[d.Name] = true
		o := owned[d.Name]
		if o == nil {
			p.Changes = append(p.Changes, Change{Action: Create, Reason: ReasonNew, Kind: KindGroup,
				Address: d.Address, Group: d.Name, Description: d.Description, RulesTag: RulesTag(d.Rules)})
			for i := range d.Rules {
				r := d.Rules[i]
				p.Changes = append(p.Changes, Change{Action: Create, Reason: ReasonNew, Kind: KindRule,
					Address: d.Address, Group: d.Name, Rule: &r})
			}
			continue
		}
		recorded, record := recordedRules(o.Tags), ""
		if tag := RulesTag(d.Rules); tag != recorded {
			record = tag
		}
		if o.Description != d.Description {
			p.Changes = append(p.Changes, Change{Action: Update, Reason: ReasonDrift, Kind: KindGroup,
				Address: d.Address, Group: d.Name, GroupID: o.ID, ID: o.ID,
				Description: d.Description, OldDescription: o.Description, RulesTag: record})
		} else {
			p.Changes = append(p.Changes, Change{Action: NoOp, Reason: ReasonUnchange, Kind: KindGroup,
				Address: d.Address, Group: d.Name, GroupID: o.ID, ID: o.ID, RulesTag: record})
		}
		have := map[string]ObservedRule{}
		for _, r := range o.Rules {
			r.Rule = resolve(r, nameByID)
			if _, dup := have[r.Key()]; dup {
				// Neutron refuses duplicates, but be safe: the extra one goes.
				p.Changes = append(p.Changes, ruleDelete(d.Address, o, r, ReasonDrift))
				continue
			}
			have[r.Key()] = r
		}
		want := map[string]bool{}
		var missing []Rule
		for i := range d.Rules {
			want[d.Rules[i].Key()] = true
			if _, ok := have[d.Rules[i].Key()]; !ok {
				missing = append(missing, d.Rules[i])
			}
		}
		deleted := deletedOutOfBand(recorded, have, want, missing)
		for i := range missing {
			r := missing[i]
			c := Change{Action: Create, Reason: ReasonNew, Kind: KindRule, Address: d.Address, Group: d.Name, GroupID: o.ID, Rule: &r}
			if deleted[r.Key()] {
				c.Reason, c.Detail = ReasonDrift, "missing: deleted outside hardenctl"
			}
			p.Changes = append(p.Changes, c)
		}
		extra := make([]ObservedRule, 0)
		for k, r := range have {
			if !want[k] {
				extra = append(extra, r)
			}
		}
		sort.Slice(extra, func(i, j int) bool { return extra[i].Rule.Less(extra[j].Rule) })
		for _, r := range extra {
			reason := ReasonDrift
			if isOurs(r.Description) {
				reason = ReasonRemoved
			}
			p.Changes = append(p.Changes, ruleDelete(d.Address, o, r, reason))
		}
	}
	for _, g := range sorted {
		if !wanted[g.Name] && owned[g.Name] != nil && owned[g.Name].ID == g.ID {
			p.Changes = append(p.Changes, Change{Action: Delete, Reason: ReasonRemoved, Kind: KindGroup,
				Address: g.Name, Group: g.Name, GroupID: g.ID, ID: g.ID, Rules: len(g.Rules)})
		}
	}
	for _, g := range dups {
		p.Changes = append(p.Changes, Change{Action: Delete, Reason: ReasonDup, Kind: KindGroup,
			Address: g.Name, Group: g.Name, GroupID: g.ID, ID: g.ID, Rules: len(g.Rules)})
	}
	others := append([]ObservedGroup(nil), obs.Others...)
	sort.Slice(others, func(i, j int) bool { return others[i].ID < others[j].ID })
	for _, g := range others {
		p.Conflicts = append(p.Conflicts, Conflict{Kind: KindGroup, Name: g.Name, ID: g.ID, Address: addressOf(desired, g.Name),
			Description: g.Description, Tags: g.Tags,
			Detail: "a security group of this name exists without hardenctl's ownership tags: hardenctl will not change or delete it, and manages its own group of the same name beside it"})
	}
	return p
}

func ruleDelete(address string, g *ObservedGroup, r ObservedRule, reason Reason) Change {
	rule := r.Rule
	return Change{Action: Delete, Reason: reason, Kind: KindRule, Address: address, Group: g.Name,
		GroupID: g.ID, ID: r.ID, Rule: &rule}
}

func addressOf(desired []Group, name string) string {
	for _, d := range desired {
		if d.Name == name {
			return d.Address
		}
	}
	return name
}

// resolve names an observed rule's remote group and normalizes it.
func resolve(r ObservedRule, nameByID map[string]string) Rule {
	rule := r.Rule.Normalize()
	if r.RemoteGroupID != "" {
		if n, ok := nameByID[r.RemoteGroupID]; ok {
			rule.RemoteGroup = n
		} else {
			rule.RemoteGroup = "id:" + r.RemoteGroupID
		}
	}
	return rule
}

func isOurs(desc string) bool {
	return len(desc) >= len(RuleMarker) && desc[:len(RuleMarker)] == RuleMarker
}

// Digest fingerprints the observed state: ids, names, descriptions, tags and every rule.
// Two observations with the same digest saw the same cloud.
func Digest(obs *Observed) string {
	canon := func(gs []ObservedGroup) []ObservedGroup {
		out := make([]ObservedGroup, len(gs))
		for i, g := range gs {
			g.Tags = append([]string(nil), g.Tags...)
			sort.Strings(g.Tags)
			g.Rules = append([]ObservedRule(nil), g.Rules...)
			sort.Slice(g.Rules, func(a, b int) bool { return g.Rules[a].ID < g.Rules[b].ID })
			out[i] = g
		}
		sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
		return out
	}
	others := canon(obs.Others)
	for i := range others {
		others[i].Rules = nil // a foreign group's rules are not ours to plan on
	}
	servers := append([]ObservedServer(nil), obs.Servers...)
	sort.Slice(servers, func(a, b int) bool { return servers[a].ID < servers[b].ID })
	b, _ := json.Marshal(struct {
		Owned, Others []ObservedGroup
		Servers       []ObservedServer
	}{canon(obs.Owned), others, servers})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CheckSaved refuses a saved (or approved) plan unless it is exactly the plan that the
// configuration and the cloud give now: the cloud is the same (stale otherwise), and so are
// the changes, so an edited plan file cannot make apply touch what the plan would not
// (another group's id, a rule of a group that is not ours).
func CheckSaved(saved, now *Plan) error {
	if err := checkFormat(saved.FormatVersion); err != nil {
		return err
	}
	if saved.Config != now.Config || saved.Destroy != now.Destroy {
		return fmt.Errorf("the plan is for configuration %q (destroy %t), not %q (destroy %t)", saved.Config, saved.Destroy, now.Config, now.Destroy)
	}
	if saved.ObservedDigest != now.ObservedDigest {
		return fmt.Errorf("the plan is stale: the cloud changed since it was made at %s", saved.CreatedAt.Format(time.RFC3339))
	}
	a, _ := json.Marshal(saved.Changes)
	b, _ := json.Marshal(now.Changes)
	if string(a) != string(b) {
		return fmt.Errorf("the plan's changes are not what the configuration and the cloud give now: the plan file was edited, or the configuration changed since it was made at %s", saved.CreatedAt.Format(time.RFC3339))
	}
	return nil
}

// Recheck makes the plan again from cfg and the cloud and refuses p unless it is the same
// (CheckSaved): what apply carries out after a wait (an approval prompt, a saved file) is
// only what still holds. The stale-plan check lives here, not in the CLI, so every caller
// (apply, a rollout, the schedule) gets the same one.
func Recheck(ctx context.Context, cfg *config.Config, obs Observer, p *Plan) error {
	now, err := Make(ctx, cfg, obs, Options{Destroy: p.Destroy})
	if err != nil {
		return err
	}
	return CheckSaved(p, now)
}

// LoadSaved reads the plan file at path and returns it only if it is for cfg and is exactly
// the plan that cfg and the cloud give now (Recheck): a stale or edited plan is refused.
func LoadSaved(ctx context.Context, cfg *config.Config, obs Observer, path string) (*Plan, error) {
	p, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if p.Config != cfg.Name {
		return nil, fmt.Errorf("plan file %s is for configuration %q, not %q", path, p.Config, cfg.Name)
	}
	if err := Recheck(ctx, cfg, obs, p); err != nil {
		return nil, fmt.Errorf("saved plan %s: %w; nothing was changed. Run plan again", path, err)
	}
	return p, nil
}

// CreatingDescription is the description a group has from its create until it is tagged
// (then it gets its own): a group with it and no tags is what a create of the group's owner
// left when it was killed or its tag request failed, and the next plan deletes it.
func CreatingDescription(ownerTags []string) string {
	return "hardenctl: being created, for " + strings.Join(ownerTags, " ")
}

// adoptOrphans turns the conflicts that are this configuration's orphans (untagged, with the
// creating description) into planned deletes.
func adoptOrphans(p *Plan, ownerTags []string) {
	marker := CreatingDescription(ownerTags)
	kept := p.Conflicts[:0]
	for _, c := range p.Conflicts {
		if c.Kind == KindGroup && c.Description == marker && len(c.Tags) == 0 {
			p.Changes = append(p.Changes, Change{Action: Delete, Reason: ReasonOrphan, Kind: KindGroup, Address: c.Address,
				Group: c.Name, GroupID: c.ID, ID: c.ID, Detail: "left untagged by an interrupted create of this configuration"})
			continue
		}
		kept = append(kept, c)
	}
	p.Conflicts = kept
}
