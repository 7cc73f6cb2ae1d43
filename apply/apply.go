package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/internal/fanout"
	"github.com/hardenctl/hardenctl/plan"
)

// Cloud is what applying a security group plan needs from the cloud.
type Cloud interface {
	// CreateSecurityGroup creates a group carrying tags and returns its id and the rules the
	// cloud put in it by itself (Neutron's allow-all egress rules). Until it is tagged, the
	// group's description is plan.CreatingDescription(tags), so that a create cut short
	// leaves an orphan the next plan recognises.
	CreateSecurityGroup(ctx context.Context, name, description string, tags []string) (id string, defaults []plan.ObservedRule, err error)
	UpdateSecurityGroup(ctx context.Context, id, description string) error
	DeleteSecurityGroup(ctx context.Context, id string) error
	// CreateSecurityGroupRules creates rules in one group, in one request where it can.
	CreateSecurityGroupRules(ctx context.Context, groupID string, rules []plan.ObservedRule) error
	DeleteSecurityGroupRule(ctx context.Context, id string) error
	// OwnedGroupRules reads group id and returns the ids of its rules, or an error when the
	// group does not carry all of ownerTags or is not in the token's project: checked on the
	// group itself, right before it (or one of its rules) is changed or deleted.
	OwnedGroupRules(ctx context.Context, id string, ownerTags []string) ([]string, error)
	// DeleteOrphanGroup deletes group id if it still is an orphan of this configuration: no
	// tags, description marker (plan.CreatingDescription), the token's project.
	DeleteOrphanGroup(ctx context.Context, id, marker string) error
	// CheckServerOwned reads server id and fails unless it carries all of ownerTags and is
	// in the token's project.
	CheckServerOwned(ctx context.Context, id string, ownerTags []string) error
	// RecordGroupRules replaces group id's rules record (the tag starting with
	// plan.TagRulesPrefix) with tag, keeping its other tags; only while the group carries
	// all of ownerTags and is in the token's project.
	RecordGroupRules(ctx context.Context, id string, ownerTags []string, tag string) error

	// CreateFleetServer boots a fleet server in security group groupID, tagged with tags.
	CreateFleetServer(ctx context.Context, spec plan.ServerSpec, groupID string, tags []string) (string, error)
	// WaitServerActive polls until the server is ACTIVE with no task (ERROR fails).
	WaitServerActive(ctx context.Context, id string) error
	// RebuildServer rebuilds a server onto imageID and waits until it is ACTIVE on it.
	RebuildServer(ctx context.Context, id, imageID string) error
	// DeleteServer deletes a server and waits until it is gone.
	DeleteServer(ctx context.Context, id string) error
}

// Headroom is one resource's quota in a project: Limit -1 means no limit.
type Headroom struct{ Limit, Used int }

// Left is what the quota leaves (a large number without a limit).
func (h Headroom) Left() int {
	if h.Limit < 0 {
		return 1 << 30
	}
	return max(h.Limit-h.Used, 0)
}

// Quota is what the project may still create of what apply creates.
type Quota struct{ Groups, Rules Headroom }

// QuotaReader is a cloud that can say its project's quota; Apply checks the plan against it
// before changing anything.
type QuotaReader interface {
	SecurityGroupQuota(ctx context.Context) (Quota, error)
}

// QuotaError says the plan needs more than the quota leaves; nothing was changed.
type QuotaError struct {
	Groups, Rules int // needed
	Quota         Quota
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("the plan needs %d new security groups and %d new rules (with Neutron's 2 default egress rules of each new group until they are removed); "+
		"the project's quota leaves %d groups (limit %d, used %d) and %d rules (limit %d, used %d): nothing was changed. Raise the quota or plan less",
		e.Groups, e.Rules, e.Quota.Groups.Left(), e.Quota.Groups.Limit, e.Quota.Groups.Used, e.Quota.Rules.Left(), e.Quota.Rules.Limit, e.Quota.Rules.Used)
}

// needs counts what applying p creates at its peak: groups, and rules (the new groups'
// default egress rules live until their rules are in).
func needs(p *plan.Plan) (groups, rules int) {
	for _, c := range p.Changes {
		if c.Action != plan.Create {
			continue
		}
		switch c.Kind {
		case plan.KindGroup:
			groups++
			rules += 2
		case plan.KindRule:
			if c.GroupID == "" && isDefault(*c.Rule, neutronDefaults) {
				continue // the default rule of the new group is kept as this rule
			}
			rules++
		}
	}
	return groups, rules
}

// neutronDefaults are the rules Neutron puts in every new group.
var neutronDefaults = []plan.ObservedRule{
	{Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv4}},
	{Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv6}},
}

// Options tune Apply.
type Options struct {
	// Concurrency bounds the groups worked on at once (default 4).
	Concurrency int
	// ServerConcurrency bounds the servers booted, rebuilt or deleted at once (default 4).
	ServerConcurrency int
	// AllowRebuild lets apply rebuild servers onto a new image (the root disk is wiped);
	// without it, and without the fleet's allow_rebuild, planned rebuilds are skipped.
	AllowRebuild bool
	// Hook receives an event.Event at the start and end of every step (nil: event.Nop). Kind
	// security_group, Address the group's name, Action "create", "update", "create rules",
	// "delete rules", "delete group", "delete orphan group" or "delete incomplete group";
	// Kind server, Address the server's name, Action "boot", "rebuild" or "delete" (and an
	// Info event with Status "skipped" for a rebuild not allowed). Calls may come from
	// several goroutines at once. A Halt answer, to any event, stops apply from starting any
	// further group or server: the work in flight finishes its own steps (a group already
	// created still gets its rules and loses Neutron's allow-all egress), and Apply returns
	// an error wrapping event.ErrHalted.
	Hook event.Hook
	// Now is the clock the steps are timed by (nil: time.Now); tests pin it.
	Now func() time.Time
}

// Result counts what Apply did.
type Result struct {
	Added, Changed, Destroyed int
	// SkippedRebuilds are the servers whose planned rebuild was not allowed.
	SkippedRebuilds []string
}

// Apply executes p, exactly the plan, in dependency order:
//  1. create and update groups (new groups get their ownership tags at once);
//  2. per group, create the planned rules in one bulk request, then delete the planned
//     rule removals and the allow-all rules Neutron put in new groups (create before delete,
//     so no flow is cut that the configuration keeps);
//  3. delete groups (their rules, and rules naming them, go with them).
//
// Groups are worked on concurrently. A failure in one group does not stop the others; the
// errors are joined. Once ctx is cancelled or the hook says Halt, no further group or server
// is started (see Options.Hook), and Apply returns only when all its work in flight is done. Whatever happened, the cloud is left in a state the next plan
// converges from: every group hardenctl created is tagged, so it is found again.
func Apply(ctx context.Context, p *plan.Plan, cloud Cloud, opts Options) (Result, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ServerConcurrency <= 0 {
		opts.ServerConcurrency = 4
	}
	if qr, ok := cloud.(QuotaReader); ok {
		groups, rules := needs(p)
		if groups+rules > 0 {
			q, err := qr.SecurityGroupQuota(ctx)
			if err != nil {
				return Result{}, fmt.Errorf("read the project's quota before applying: %w", err)
			}
			if groups > q.Groups.Left() || rules > q.Rules.Left() {
				return Result{}, &QuotaError{Groups: groups, Rules: rules, Quota: q}
			}
		}
	}
	e := &engine{cloud: cloud, opts: opts, gate: event.NewGate(opts.Hook), owner: plan.OwnerTags(p.Config), ids: map[string]string{}, defaults: map[string][]plan.ObservedRule{}, incomplete: map[string]bool{}}
	// Work is keyed by group id (by name only for groups still to create): two owned groups
	// may share a name (two applies at once made both), and the plan deletes the duplicate
	// while it changes the rules of the one it keeps.
	byGroup := map[string]*work{}
	var order []string
	var servers []*plan.Change
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Kind == plan.KindServer {
			servers = append(servers, c)
			continue
		}
		key := c.GroupID
		if key == "" {
			key = "new:" + c.Group
		}
		w := byGroup[key]
		if w == nil {
			w = &work{name: c.Group, key: key}
			byGroup[key] = w
			order = append(order, key)
		}
		if c.GroupID != "" && !(c.Kind == plan.KindGroup && c.Action == plan.Delete) {
			e.ids[c.Group] = c.GroupID // the group that stays: rules and servers name it
		}
		switch {
		case c.Kind == plan.KindGroup:
			w.group = c
		case c.Action == plan.Create:
			w.creates = append(w.creates, c)
		case c.Action == plan.Delete:
			w.deletes = append(w.deletes, c)
		}
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := byGroup[order[i]], byGroup[order[j]]
		if a.name != b.name {
			return a.name < b.name
		}
		return a.key < b.key
	})

	// A group's own steps (create, tag, its rules, removing Neutron's allow-all egress) are
	// finished under a grace context when ctx is cancelled (Ctrl-C): a group created but left
	// with allow-all egress would be worse than one never created. No new group is started.
	gctx, stop := graceContext(ctx, GracePeriod)
	defer stop()

	// 1. groups to create or update.
	e.each(ctx, gctx, order, byGroup, nil, func(ctx context.Context, w *work) error {
		if w.group == nil {
			return nil
		}
		switch w.group.Action {
		case plan.Create:
			return e.groupStep(w.name, "create", 1, func() error {
				id, defaults, err := cloud.CreateSecurityGroup(ctx, w.name, w.group.Description, plan.OwnerTags(p.Config))
				if err != nil {
					return err
				}
				e.mu.Lock()
				e.ids[w.name] = id
				e.defaults[w.name] = defaults
				e.res.Added++
				e.mu.Unlock()
				return nil
			})
		case plan.Update:
			return e.groupStep(w.name, "update", 1, func() error {
				if _, err := e.owned(ctx, w); err != nil {
					return err
				}
				if err := cloud.UpdateSecurityGroup(ctx, w.id(), w.group.Description); err != nil {
					return err
				}
				e.count(&e.res.Changed, 1)
				return nil
			})
		}
		return nil
	})

	// 2. rules; after an interruption, still for the groups this apply created.
	created := func(w *work) bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		_, ok := e.defaults[w.name]
		return ok && w.id() == ""
	}
	e.each(ctx, gctx, order, byGroup, created, func(ctx context.Context, w *work) error {
		if w.group != nil && w.group.Action == plan.Delete {
			return nil // its rules go with it
		}
		e.mu.Lock()
		gid, defaults := w.id(), e.defaults[w.name]
		if gid == "" {
			gid = e.ids[w.name]
		}
		e.mu.Unlock()
		if gid == "" {
			if len(w.creates)+len(w.deletes) == 0 {
				return nil
			}
			return fmt.Errorf("security group %s: not created, so its %d rule changes were skipped", w.name, len(w.creates)+len(w.deletes))
		}
		keepDefault := map[string]bool{}
		var specs []plan.ObservedRule
		var resolveErr error
		for _, c := range w.creates {
			if isDefault(*c.Rule, defaults) {
				keepDefault[c.Rule.Key()] = true
				e.count(&e.res.Added, 1)
				continue
			}
			spec := plan.ObservedRule{Rule: *c.Rule}
			if c.Rule.RemoteGroup != "" {
				e.mu.Lock()
				spec.RemoteGroupID = e.ids[c.Rule.RemoteGroup]
				e.mu.Unlock()
				if spec.RemoteGroupID == "" {
					resolveErr = errors.Join(resolveErr, fmt.Errorf("security group %s: rule %q names group %s, which does not exist", w.name, c.Rule, c.Rule.RemoteGroup))
					continue
				}
				spec.Rule.RemoteGroup = ""
			}
			specs = append(specs, spec)
		}
		err := resolveErr
		if len(specs) > 0 {
			err = errors.Join(err, e.groupStep(w.name, "create rules", len(specs), func() error {
				if err := cloud.CreateSecurityGroupRules(ctx, gid, specs); err != nil {
					return err
				}
				e.count(&e.res.Added, len(specs))
				return nil
			}))
		}
		var ids []string
		for _, c := range w.deletes {
			ids = append(ids, c.ID)
		}
		for _, d := range defaults {
			if !keepDefault[d.Rule.Key()] {
				ids = append(ids, d.ID)
			}
		}
		defaultsLeft := 0
		if len(ids) > 0 {
			err = errors.Join(err, e.groupStep(w.name, "delete rules", len(ids), func() error {
				if len(w.deletes) > 0 {
					have, err := e.owned(ctx, w)
					if err != nil {
						return err
					}
					for _, c := range w.deletes {
						if !slices.Contains(have, c.ID) {
							return fmt.Errorf("security group %s (%s): rule %s is not one of its rules: nothing of it was deleted", w.name, w.id(), c.ID)
						}
					}
				}
				var errs []error
				for _, id := range ids {
					if err := cloud.DeleteSecurityGroupRule(ctx, id); err != nil {
						errs = append(errs, err)
						if isDefaultID(id, defaults) {
							defaultsLeft++
						}
					}
				}
				e.count(&e.res.Destroyed, len(w.deletes)) // Neutron's own defaults were never in the plan
				return errors.Join(errs...)
			}))
		}
		if err != nil {
			e.mu.Lock()
			e.incomplete[w.name] = true
			e.mu.Unlock()
		}
		if defaultsLeft > 0 && w.id() == "" {
			// A group this apply made still has Neutron's allow-all egress: it goes again, and
			// the next apply makes it afresh, rather than stand open.
			derr := e.groupStep(w.name, "delete incomplete group", 1, func() error { return cloud.DeleteSecurityGroup(ctx, gid) })
			if derr != nil {
				return errors.Join(err, fmt.Errorf("security group %s (%s) keeps Neutron's allow-all egress: removing it failed, and deleting the group too: %w", w.name, gid, derr))
			}
			e.count(&e.res.Added, -1)
			return errors.Join(err, fmt.Errorf("security group %s: Neutron's allow-all egress could not be removed, so the new group was deleted again; the next apply makes it afresh", w.name))
		}
		if err == nil && w.group != nil && w.group.RulesTag != "" {
			// The group now holds exactly the configuration's rules: record them, so that
			// one deleted outside hardenctl is told from one new in the configuration.
			err = e.groupStep(w.name, "record rules", 1, func() error {
				return cloud.RecordGroupRules(ctx, gid, e.owner, w.group.RulesTag)
			})
		}
		return err
	})

	// 3. servers: boot and rebuild, then delete (before their groups can go).
	e.servers(ctx, p.Config, servers, func(c *plan.Change) bool { return c.Action != plan.Delete })
	e.servers(ctx, p.Config, servers, func(c *plan.Change) bool { return c.Action == plan.Delete })

	// 4. groups to delete.
	e.each(ctx, ctx, order, byGroup, nil, func(ctx context.Context, w *work) error {
		if w.group == nil || w.group.Action != plan.Delete {
			return nil
		}
		if w.group.Reason == plan.ReasonOrphan {
			return e.groupStep(w.name, "delete orphan group", 1, func() error {
				if err := cloud.DeleteOrphanGroup(ctx, w.id(), plan.CreatingDescription(e.owner)); err != nil {
					return err
				}
				e.count(&e.res.Destroyed, 1)
				return nil
			})
		}
		return e.groupStep(w.name, "delete group", 1, func() error {
			if _, err := e.owned(ctx, w); err != nil {
				return err
			}
			if err := cloud.DeleteSecurityGroup(ctx, w.id()); err != nil {
				return err
			}
			e.count(&e.res.Destroyed, 1)
			return nil
		})
	})
	return e.res, errors.Join(e.errs...)
}

// servers works on the server changes that pick selects, ServerConcurrency at a time. Once
// ctx is cancelled or a hook said Halt, no server is started; it returns when every server
// it started is done.
func (e *engine) servers(ctx context.Context, config string, changes []*plan.Change, pick func(*plan.Change) bool) {
	var picked []*plan.Change
	for _, c := range changes {
		if pick(c) {
			picked = append(picked, c)
		}
	}
	err := fanout.Each(len(picked), e.opts.ServerConcurrency, func(i int) bool {
		return e.mayStart(ctx, "server "+picked[i].ServerName)
	}, func(i int) error { return e.server(ctx, config, picked[i]) })
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

func (e *engine) server(ctx context.Context, config string, c *plan.Change) error {
	switch c.Action {
	case plan.Create:
		e.mu.Lock()
		gid := e.ids[c.Server.Group]
		e.mu.Unlock()
		if gid == "" {
			return fmt.Errorf("server %s: its zone's security group %s does not exist", c.ServerName, c.Server.Group)
		}
		e.mu.Lock()
		incomplete := e.incomplete[c.Server.Group]
		e.mu.Unlock()
		if incomplete {
			return fmt.Errorf("server %s not booted: its zone's security group %s did not get all its rules; the next apply boots it", c.ServerName, c.Server.Group)
		}
		return e.serverStep(c.ServerName, "boot", func() error {
			id, err := e.cloud.CreateFleetServer(ctx, *c.Server, gid, plan.FleetTags(config, c.Server.Fleet))
			if err != nil {
				return err
			}
			if err := e.cloud.WaitServerActive(ctx, id); err != nil {
				return fmt.Errorf("server %s (%s): %w", c.ServerName, id, err)
			}
			e.count(&e.res.Added, 1)
			return nil
		})
	case plan.Rebuild:
		if !e.opts.AllowRebuild && !c.Server.Rebuild {
			e.mu.Lock()
			e.res.SkippedRebuilds = append(e.res.SkippedRebuilds, c.ServerName)
			e.mu.Unlock()
			e.gate.Send(event.Event{Kind: event.KindServer, Address: c.ServerName, Action: "rebuild", Phase: event.Info, Status: "skipped",
				Message: "rebuild skipped: it wipes the root disk; apply with -allow-rebuild, or set allow_rebuild = true on the fleet"})
			return nil
		}
		return e.serverStep(c.ServerName, "rebuild", func() error {
			if err := e.cloud.CheckServerOwned(ctx, c.ID, e.owner); err != nil {
				return err
			}
			if err := e.cloud.RebuildServer(ctx, c.ID, c.Server.ImageID); err != nil {
				return err
			}
			e.count(&e.res.Changed, 1)
			return nil
		})
	case plan.Delete:
		return e.serverStep(c.ServerName, "delete", func() error {
			if err := e.cloud.CheckServerOwned(ctx, c.ID, e.owner); err != nil {
				return err
			}
			if err := e.cloud.DeleteServer(ctx, c.ID); err != nil {
				return err
			}
			e.count(&e.res.Destroyed, 1)
			return nil
		})
	}
	return nil
}

type work struct {
	name    string // the group's Neutron name
	key     string // its id, or "new:" and the name for a group to create
	group   *plan.Change
	creates []*plan.Change
	deletes []*plan.Change
	checked bool     // ownership re-checked on the group itself
	rules   []string // its rule ids then
}

// id is the group's id when it existed before this apply.
func (w *work) id() string {
	if strings.HasPrefix(w.key, "new:") {
		return ""
	}
	return w.key
}

type engine struct {
	cloud    Cloud
	opts     Options
	gate     *event.Gate
	owner    []string // the configuration's ownership tags
	mu       sync.Mutex
	ids      map[string]string // group name -> id
	defaults map[string][]plan.ObservedRule
	// incomplete are the groups whose rule changes failed: no server is booted into them.
	incomplete map[string]bool
	res        Result
	// errs are appended by the goroutine that runs Apply only (the workers return theirs).
	errs []error
	// stopped: the first unit refused after a cancel or a Halt is in errs.
	stopped bool
}

// owned checks, on the group itself, that an existing group is still this configuration's
// (once per group and apply: its rules are changed in one step), and returns its rule ids.
func (e *engine) owned(ctx context.Context, w *work) ([]string, error) {
	if w.checked {
		return w.rules, nil
	}
	rules, err := e.cloud.OwnedGroupRules(ctx, w.id(), e.owner)
	if err != nil {
		return nil, fmt.Errorf("security group %s: %w: not changed", w.name, err)
	}
	w.checked, w.rules = true, rules
	return rules, nil
}

func (e *engine) count(n *int, d int) {
	e.mu.Lock()
	*n += d
	e.mu.Unlock()
}

// each runs fn for every group with bounded concurrency, collecting errors. Once ctx is
// cancelled or a hook said Halt, no group is started, except those that finish says must be
// finished; fn runs
// under run, ctx or its grace context. It returns when every group it started is done.
func (e *engine) each(ctx, run context.Context, order []string, byGroup map[string]*work, finish func(*work) bool, fn func(context.Context, *work) error) {
	// start is asked once a slot is free: ctx may have been cancelled, or a hook may have
	// said Halt, while waiting.
	start := func(i int) bool {
		w := byGroup[order[i]]
		if finish != nil && finish(w) {
			return true
		}
		return e.mayStart(ctx, "security group "+w.name)
	}
	err := fanout.Each(len(order), e.opts.Concurrency, start, func(i int) error { return fn(run, byGroup[order[i]]) })
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

// mayStart reports whether a new unit of work (what) may start: not once ctx is cancelled
// or a hook said Halt. The first refusal of the apply is recorded as its error.
func (e *engine) mayStart(ctx context.Context, what string) bool {
	var err error
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("apply interrupted before %s: %w", what, ctx.Err())
	case e.gate.Halted():
		err = fmt.Errorf("apply halted before %s: %w", what, event.ErrHalted)
	default:
		return true
	}
	if !e.stopped {
		e.errs = append(e.errs, err)
		e.stopped = true
	}
	return false
}

func (e *engine) groupStep(name, action string, n int, fn func() error) error {
	return e.step(event.Event{Kind: event.KindSecurityGroup, Address: name, Action: action, Count: n}, fn)
}

func (e *engine) serverStep(name, action string, fn func() error) error {
	return e.step(event.Event{Kind: event.KindServer, Address: name, Action: action}, fn)
}

// step reports ev's start, runs fn and reports its end. A Halt answer is remembered by the
// gate (mayStart reads it); the step itself runs to its end.
func (e *engine) step(ev event.Event, fn func() error) error {
	ev.Phase = event.Start
	e.gate.Send(ev)
	start := e.opts.Now()
	err := fn()
	ev.Phase, ev.Err, ev.Elapsed = event.End, err, e.opts.Now().Sub(start)
	e.gate.Send(ev)
	return err
}

// GracePeriod is how long a group's own steps may go on after an interruption.
const GracePeriod = 2 * time.Minute

// graceContext is a context that outlives ctx's cancellation by grace: the work in flight
// finishes, bounded.
func graceContext(ctx context.Context, grace time.Duration) (context.Context, func()) {
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(gctx, func() { t.Stop() })
	})
	return gctx, func() { stop(); cancel() }
}

func isDefaultID(id string, defaults []plan.ObservedRule) bool {
	for _, d := range defaults {
		if d.ID == id {
			return true
		}
	}
	return false
}

func isDefault(r plan.Rule, defaults []plan.ObservedRule) bool {
	for _, d := range defaults {
		if d.RemoteGroupID == "" && d.Rule.Key() == r.Key() {
			return true
		}
	}
	return false
}
