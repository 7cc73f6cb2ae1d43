// Package applytest is a fake of the cloud apply works on (apply.Cloud), for apply's own
// tests and for the CLI's: it records every call, in order, and fails where it is told to.
// It imports nothing of apply (apply's tests import it).
package applytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hardenctl/hardenctl/plan"
)

// Cloud records calls (Calls, one line each, in order); groups named in FailCreate fail to
// be created. New groups get the id "id-NAME" and Neutron's two default egress rules,
// "NAME-def4" and "NAME-def6"; booted servers the id "srv-NAME". Error paths only: the
// integration tests apply against the test bed's Neutron.
type Cloud struct {
	mu         sync.Mutex
	FailCreate map[string]bool
	Calls      []string
	// NotOwned are ids of groups and servers that lost their ownership tags meanwhile.
	NotOwned map[string]bool
	// GroupRules are the rule ids each group has (checked before rule deletes).
	GroupRules map[string][]string
	FailRule   map[string]bool // rule deletes that fail
}

func (f *Cloud) OwnedGroupRules(_ context.Context, id string, tags []string) ([]string, error) {
	f.Record("check group %s", id)
	if f.NotOwned[id] {
		return nil, fmt.Errorf("security group %s does not carry %v", id, tags)
	}
	return f.GroupRules[id], nil
}

func (f *Cloud) DeleteOrphanGroup(_ context.Context, id, marker string) error {
	f.Record("delete orphan %s %q", id, marker)
	return nil
}

func (f *Cloud) RecordGroupRules(_ context.Context, id string, _ []string, tag string) error {
	f.Record("record rules %s %s", id, tag)
	return nil
}

func (f *Cloud) CheckServerOwned(_ context.Context, id string, tags []string) error {
	if f.NotOwned[id] {
		return fmt.Errorf("server %s does not carry %v", id, tags)
	}
	return nil
}

// Record adds a call to Calls.
func (f *Cloud) Record(format string, args ...any) {
	f.mu.Lock()
	f.Calls = append(f.Calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *Cloud) CreateSecurityGroup(_ context.Context, name, _ string, tags []string) (string, []plan.ObservedRule, error) {
	if f.FailCreate[name] {
		return "", nil, errors.New("create security group " + name + ": quota exceeded")
	}
	f.Record("create group %s tags=%v", name, tags)
	defaults := []plan.ObservedRule{
		{ID: name + "-def4", Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv4}},
		{ID: name + "-def6", Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv6}},
	}
	return "id-" + name, defaults, nil
}

func (f *Cloud) UpdateSecurityGroup(_ context.Context, id, d string) error {
	f.Record("update %s %q", id, d)
	return nil
}

func (f *Cloud) DeleteSecurityGroup(_ context.Context, id string) error {
	f.Record("delete group %s", id)
	return nil
}

func (f *Cloud) CreateSecurityGroupRules(_ context.Context, gid string, rules []plan.ObservedRule) error {
	var rs []string
	for _, r := range rules {
		rs = append(rs, r.Rule.String()+" remote="+r.RemoteGroupID)
	}
	f.Record("bulk %s [%s]", gid, strings.Join(rs, "; "))
	return nil
}

func (f *Cloud) DeleteSecurityGroupRule(_ context.Context, id string) error {
	if f.FailRule[id] {
		return errors.New("delete security group rule " + id + ": 429, retry after 300 s")
	}
	f.Record("delete rule %s", id)
	return nil
}

func (f *Cloud) CreateFleetServer(_ context.Context, spec plan.ServerSpec, gid string, tags []string) (string, error) {
	f.Record("boot %s in %s", spec.Name, gid)
	return "srv-" + spec.Name, nil
}

func (f *Cloud) WaitServerActive(context.Context, string) error { return nil }

func (f *Cloud) RebuildServer(_ context.Context, id, image string) error {
	f.Record("rebuild %s onto %s", id, image)
	return nil
}

func (f *Cloud) DeleteServer(_ context.Context, id string) error {
	f.Record("delete server %s", id)
	return nil
}

// Has reports whether a recorded call starts with prefix.
func (f *Cloud) Has(prefix string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.Calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}
