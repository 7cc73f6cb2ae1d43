package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/internal/faultproxy"
	"github.com/hardenctl/hardenctl/plan"
)

// The fault-injection suite: each fault kind at an API step of apply and destroy of a small
// zone configuration, through the fault proxy in front of the real test bed. For each case:
// the command fails cleanly (an error naming what it was doing to which resource) or
// succeeds; a run without faults converges; nothing unowned is touched; no orphan and no
// duplicate group is left; no managed group keeps allow-all egress.
//
// make test runs a representative selection; HARDENCTL_FAULT_SOAK=1 (scripts/fault-soak.sh)
// runs every fault at every step.

const faultConfig = `name = %q
cloud { cloud = "demo" }
bastion { allow_from = ["198.51.100.0/24"] }
zone "web" {
  ingress {
    from  = ["0.0.0.0/0"]
    ports = [443]
  }
  egress {
    to    = zone.app
    ports = [8443]
  }
}
zone "app" {
  ingress {
    from  = zone.web
    ports = [8443]
  }
  egress {
    to    = zone.db
    ports = [5432]
  }
}
zone "db" {
  ingress {
    from  = zone.app
    ports = [5432]
  }
}
`

// faultStep is one API call of a command, as the proxy sees it.
type faultStep struct {
	cmd, name string
	rule      faultproxy.Rule // match only: Times and Fault are the case's
	times     faultproxy.Times
}

func hasName(q url.Values) bool { return q.Has("name") }

var faultSteps = []faultStep{
	{"apply", "auth", faultproxy.Rule{Service: "identity", Method: "POST", Path: "/v3/auth/tokens"}, faultproxy.Nth(1)},
	{"apply", "list owned", faultproxy.Rule{Service: "network", Method: "GET", Path: "/v2.0/security-groups", Query: faultproxy.HasTagFilter}, faultproxy.Nth(1)},
	{"apply", "list by name", faultproxy.Rule{Service: "network", Method: "GET", Path: "/v2.0/security-groups", Query: hasName}, faultproxy.Nth(1)},
	{"apply", "create group", faultproxy.Rule{Service: "network", Method: "POST", Path: "/v2.0/security-groups"}, faultproxy.Nth(2)},
	{"apply", "tag group", faultproxy.Rule{Service: "network", Method: "PUT", Path: "/v2.0/security-groups/*/tags"}, faultproxy.Nth(2)},
	{"apply", "bulk rules", faultproxy.Rule{Service: "network", Method: "POST", Path: "/v2.0/security-group-rules"}, faultproxy.Nth(2)},
	{"apply", "delete default rule", faultproxy.Rule{Service: "network", Method: "DELETE", Path: "/v2.0/security-group-rules/*"}, faultproxy.Nth(3)},
	{"destroy", "list owned", faultproxy.Rule{Service: "network", Method: "GET", Path: "/v2.0/security-groups", Query: faultproxy.HasTagFilter}, faultproxy.Nth(1)},
	{"destroy", "list servers", faultproxy.Rule{Service: "compute", Method: "GET", Path: "/v2.1/servers/detail"}, faultproxy.Nth(1)},
	{"destroy", "delete group", faultproxy.Rule{Service: "network", Method: "DELETE", Path: "/v2.0/security-groups/*"}, faultproxy.Nth(2)},
}

// faultKind is one fault; fault is called when the case starts (an HTTP date is relative).
type faultKind struct {
	name  string
	fault func() faultproxy.Fault
	// only, when set, limits the kind to the steps it makes sense for.
	only func(faultStep) bool
}

func fixed(f faultproxy.Fault) func() faultproxy.Fault { return func() faultproxy.Fault { return f } }

var faultKinds = []faultKind{
	{name: "429", fault: fixed(faultproxy.TooManyRequests(""))},
	{name: "429 RA 2s", fault: fixed(faultproxy.TooManyRequests("2"))},
	{name: "429 RA 25s", fault: fixed(faultproxy.TooManyRequests("25"))},
	{name: "429 RA date", fault: func() faultproxy.Fault {
		return faultproxy.TooManyRequests(time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat))
	}},
	{name: "429 RA 300s", fault: fixed(faultproxy.TooManyRequests("300"))},
	{name: "500 before", fault: fixed(faultproxy.StatusBefore(500))},
	{name: "500 after", fault: fixed(faultproxy.StatusAfter(500))},
	{name: "502 before", fault: fixed(faultproxy.StatusBefore(502))},
	{name: "503 before", fault: fixed(faultproxy.StatusBefore(503))},
	{name: "503 after", fault: fixed(faultproxy.StatusAfter(503))},
	{name: "504 after", fault: fixed(faultproxy.StatusAfter(504))},
	{name: "409 before", fault: fixed(faultproxy.StatusBefore(409)), only: func(s faultStep) bool { return s.name == "bulk rules" }},
	{name: "409 after", fault: fixed(faultproxy.StatusAfter(409)), only: func(s faultStep) bool { return s.name == "bulk rules" }},
	{name: "truncated body", fault: fixed(faultproxy.TruncateBody())},
	{name: "reset before", fault: fixed(faultproxy.ResetConn(faultproxy.Before))},
	{name: "reset after", fault: fixed(faultproxy.ResetConn(faultproxy.After))},
	{name: "reset mid-body", fault: fixed(faultproxy.ResetMidBodyFault())},
	{name: "slow 3s", fault: fixed(faultproxy.SlowResponse(3 * time.Second))},
	{name: "401 once", fault: fixed(faultproxy.Unauthorized()), only: func(s faultStep) bool { return s.rule.Service != "identity" }},
	{name: "tags ignored", fault: fixed(faultproxy.IgnoreTags()), only: func(s faultStep) bool { return s.name == "list owned" || s.name == "list servers" }},
}

// shortFaultMatrix is the selection make test runs: every fault kind at least once, every
// step at least once, the writes (create, tag, bulk rules, deletes) with the faults that
// leave the cloud changed behind an error.
var shortFaultMatrix = map[string][]string{
	"apply/auth":                {"reset before"},
	"apply/list owned":          {"tags ignored", "401 once"},
	"apply/list by name":        {"reset mid-body"},
	"apply/create group":        {"503 after", "reset after", "429 RA 300s"},
	"apply/tag group":           {"500 before", "504 after"},
	"apply/bulk rules":          {"409 before", "429 RA 25s", "truncated body"},
	"apply/delete default rule": {"500 after", "slow 3s", "429"},
	"destroy/list owned":        {"tags ignored"},
	"destroy/list servers":      {"503 before"},
	"destroy/delete group":      {"reset after", "502 before", "429 RA date"},
}

type faultCase struct {
	step faultStep
	kind faultKind
}

// name is the case's subtest name: "apply:create_group:503_after".
func (c faultCase) name() string {
	return strings.ReplaceAll(c.step.cmd+":"+c.step.name+":"+c.kind.name, " ", "_")
}

// faultScenario is an apply case and a destroy case (either may be nil) on one configuration.
type faultScenario struct{ apply, destroy *faultCase }

// faultEnv is one scenario's configuration and the groups it must not touch.
type faultEnv struct {
	nc       *gophercloud.ServiceClient
	w        faultWorker
	dir      string
	name     string
	before   map[string]*groups.SecGroup
	foreign  string
	fpBefore map[string]string
}

type faultOutcome struct {
	cmd, step, fault string
	outcome          string // "ok", "failed cleanly", "failed: unclear error"
	afterFault       string // state right after the faulty run: "-" or what was wrong
	converged        bool
	problems         []string
	elapsed          time.Duration
}

func TestFaultInjection(t *testing.T) {
	integration(t)
	soak := os.Getenv("HARDENCTL_FAULT_SOAK") == "1"
	var cases []faultCase
	for _, s := range faultSteps {
		for _, k := range faultKinds {
			if k.only != nil && !k.only(s) {
				continue
			}
			if !soak && !contains(shortFaultMatrix[s.cmd+"/"+s.name], k.name) {
				continue
			}
			cases = append(cases, faultCase{s, k})
		}
	}
	src := os.Getenv("OS_CLIENT_CONFIG_FILE")
	demo, err := faultproxy.ReadCloud(src, "demo")
	if err != nil {
		t.Fatal(err)
	}
	// A pool of proxies, each one case's at a time; one clouds.yaml names them all
	// (fault-0, ...) besides the test bed's own demo entry for the runs without faults.
	workers := 4
	if n := os.Getenv("HARDENCTL_FAULT_CONCURRENCY"); n != "" {
		fmt.Sscan(n, &workers)
	}
	pool := make(chan faultWorker, workers)
	entries := map[string]faultproxy.Cloud{"demo": demo}
	for i := range workers {
		p, err := faultproxy.Start(demo.Auth.AuthURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		name := fmt.Sprintf("fault-%d", i)
		if entries[name], err = p.Proxied(demo); err != nil {
			t.Fatal(err)
		}
		pool <- faultWorker{p, name}
	}
	cloudsFile := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := faultproxy.WriteClouds(cloudsFile, entries); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", cloudsFile)
	nc := neutron(t)

	var mu sync.Mutex
	var results []faultOutcome
	start := time.Now()
	// Scenarios: an apply fault, then (on the converged result) a destroy fault, on one
	// configuration, which saves the destroy case its own apply.
	var applies, destroys []faultCase
	for _, c := range cases {
		if c.step.cmd == "apply" {
			applies = append(applies, c)
		} else {
			destroys = append(destroys, c)
		}
	}
	t.Run("cases", func(t *testing.T) {
		for i := range max(len(applies), len(destroys)) {
			var sc faultScenario
			var names []string
			if i < len(applies) {
				sc.apply = &applies[i]
				names = append(names, sc.apply.name())
			}
			if i < len(destroys) {
				sc.destroy = &destroys[i]
				names = append(names, sc.destroy.name())
			}
			t.Run(strings.Join(names, "+"), func(t *testing.T) {
				t.Parallel()
				w := <-pool
				defer func() { pool <- w }()
				out := runFaultScenario(t, nc, w, sc, fmt.Sprintf("flt%d%02d", time.Now().UnixNano()%1e7, i))
				mu.Lock()
				results = append(results, out...)
				mu.Unlock()
				for _, r := range out {
					for _, p := range r.problems {
						t.Errorf("%s at %s of %s: %s", r.fault, r.step, r.cmd, p)
					}
				}
			})
		}
	})
	logFaultTable(t, results, time.Since(start))
}

type faultWorker struct {
	proxy *faultproxy.Proxy
	cloud string
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func runFaultScenario(t *testing.T, nc *gophercloud.ServiceClient, w faultWorker, sc faultScenario, name string) []faultOutcome {
	t.Helper()
	ctx := context.Background()
	e := &faultEnv{nc: nc, w: w, dir: t.TempDir(), name: name}
	if err := os.WriteFile(filepath.Join(e.dir, "main.hcl"), []byte(fmt.Sprintf(faultConfig, name)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.before = projectGroups(t, nc)
	// Someone else's group named like a managed one, and an unrelated group, both with a rule.
	e.foreign = foreignGroup(t, nc, name+"-app")
	unrelated := foreignGroup(t, nc, "unrelated-"+name)
	e.fpBefore = map[string]string{e.foreign: fullFingerprint(t, nc, e.foreign), unrelated: fullFingerprint(t, nc, unrelated)}
	t.Cleanup(func() {
		if st := inspect(t, nc, name, e.foreign); len(st.owned) > 0 {
			e.cli(t, "destroy", "-cloud", "demo", "-auto-approve")
		}
		groups.Delete(ctx, nc, e.foreign)
		groups.Delete(ctx, nc, unrelated)
		for _, g := range projectGroups(t, nc) { // orphans and the lock of this scenario
			if (strings.HasPrefix(g.Name, name+"-") || g.Name == lockName(name)) && e.before[g.ID] == nil {
				groups.Delete(ctx, nc, g.ID)
			}
		}
	})
	var out []faultOutcome
	if sc.apply != nil {
		out = append(out, runFaultCase(t, e, *sc.apply))
	}
	if sc.destroy != nil {
		if sc.apply == nil {
			if r := e.cli(t, "apply", "-cloud", "demo", "-auto-approve"); r.code != 0 {
				t.Fatalf("apply before the faulty destroy: %s%s", r.stdout, r.stderr)
			}
		}
		out = append(out, runFaultCase(t, e, *sc.destroy))
	}
	return out
}

// cli runs hardenctl on the scenario's configuration and logs how long it took.
func (e *faultEnv) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	start := time.Now()
	r := runCLI(t, "", nil, append([]string{"-C", e.dir}, args...)...)
	t.Logf("%s: exit %d in %s", strings.Join(args, " "), r.code, time.Since(start).Round(10*time.Millisecond))
	return r
}

// runFaultCase runs c's command through the proxy with c's fault, checks what it did, and
// runs it again without faults.
func runFaultCase(t *testing.T, e *faultEnv, c faultCase) faultOutcome {
	t.Helper()
	started := time.Now()
	res := faultOutcome{cmd: c.step.cmd, step: c.step.name, fault: c.kind.name, afterFault: "-"}
	problem := func(format string, args ...any) { res.problems = append(res.problems, fmt.Sprintf(format, args...)) }
	nc, w, name, foreign := e.nc, e.w, e.name, e.foreign

	// The faulty run, with a guard that refuses (and records) any change to what the case
	// does not own: the suite must never damage the shared test bed, even when the code
	// under test would.
	g := &faultGuard{nc: nc, config: name, before: e.before}
	p := w.proxy
	p.Clear()
	p.ResetRecords()
	p.Add(faultproxy.Rule{Match: g.refuse, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: http.StatusForbidden, Note: "refused by the test's guard"}})
	rule := c.step.rule
	rule.Times, rule.Fault = c.step.times, c.kind.fault()
	fired := p.Add(rule)
	r := e.cli(t, c.step.cmd, "-cloud", w.cloud, "-auto-approve")
	p.Clear()
	if p.Fired(fired) == 0 {
		problem("the fault never struck: no request matched step %q (did the command's API calls change? update faultSteps); requests: %v", c.step.name, p.Records())
	}
	for _, hit := range g.hits() {
		problem("tried to change what it does not own: %s", hit)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		problem("panicked:\n%s", r.stderr)
	}
	errText := lastError(r.stderr)
	switch {
	case r.code == 0:
		res.outcome = "ok"
	case cleanError(errText, name):
		res.outcome = "failed cleanly"
	default:
		res.outcome = "failed: unclear error"
		problem("exit %d with an error that does not say what was done to which resource: %q", r.code, errText)
	}
	t.Logf("faulty %s (exit %d): %s", c.step.cmd, r.code, errText)

	st := inspect(t, nc, name, foreign)
	res.afterFault = st.summary()
	if r.code == 0 {
		if c.step.cmd == "apply" {
			if pr := e.cli(t, "plan", "-cloud", "demo", "-detailed-exitcode"); pr.code != 0 {
				problem("apply said it succeeded, but the next plan has changes (exit %d):\n%s", pr.code, pr.stdout)
			}
		} else if len(st.owned) > 0 {
			problem("destroy said it succeeded, but groups it owns are left: %v", keys(st.owned))
		}
		if s := st.summary(); s != "-" {
			problem("succeeded, but left %s", s)
		}
	}

	// The run without faults converges.
	cr := e.cli(t, c.step.cmd, "-cloud", "demo", "-auto-approve")
	if cr.code != 0 {
		problem("the %s without faults failed (exit %d): %s", c.step.cmd, cr.code, lastError(cr.stderr))
	}
	res.converged = cr.code == 0
	if c.step.cmd == "apply" {
		pr := e.cli(t, "plan", "-cloud", "demo", "-detailed-exitcode")
		if pr.code != 0 {
			res.converged = false
			problem("after the %s without faults, plan still has changes (exit %d):\n%s%s", c.step.cmd, pr.code, pr.stdout, lastError(pr.stderr))
		}
	} else {
		dr := e.cli(t, "destroy", "-cloud", "demo", "-auto-approve")
		if dr.code != 0 || !strings.Contains(dr.stdout, "No changes.") {
			res.converged = false
			problem("a second destroy without faults still had work (exit %d):\n%s", dr.code, dr.stdout)
		}
	}
	end := inspect(t, nc, name, foreign)
	if s := end.summary(); s != "-" {
		res.converged = false
		problem("after the run without faults: %s", s)
	}
	if c.step.cmd == "destroy" && len(end.owned) > 0 {
		res.converged = false
		problem("after the destroy without faults, owned groups are left: %v", keys(end.owned))
	}
	for id, fp := range e.fpBefore {
		if now := fullFingerprint(t, nc, id); now != fp {
			problem("a group it does not own changed:\nbefore %s\nafter  %s", fp, now)
		}
	}
	res.elapsed = time.Since(started)
	return res
}

// lastError is the last "Error:" line of a command's stderr, or its last line.
func lastError(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Error: ") {
			return strings.Join(lines[i:], " | ")
		}
	}
	return lines[len(lines)-1]
}

var (
	verbRE     = regexp.MustCompile(`(?i)\b(create|delete|tag|list|update|observe|authenticate|read|find|remove)`)
	resourceRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|security groups? |security-group|servers|rules? |auth`)
)

// cleanError reports whether an error says what was being done (a verb) to which resource
// (the configuration's groups by name, an id, or a kind of resource with its endpoint).
func cleanError(msg, config string) bool {
	return strings.HasPrefix(msg, "Error: ") && verbRE.MatchString(msg) && (strings.Contains(msg, config) || resourceRE.MatchString(msg))
}

// faultGuard refuses, during a faulty run, any change to a group (or its rules) that the
// case's configuration does not own and did not create, and any change to servers or
// images (the configuration has none).
type faultGuard struct {
	nc     *gophercloud.ServiceClient
	config string
	before map[string]*groups.SecGroup
	mu     sync.Mutex
	refs   []string
}

func (g *faultGuard) hits() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refs...)
}

func (g *faultGuard) refuse(r *http.Request, body []byte) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	why := g.why(r, body)
	if why == "" {
		return false
	}
	g.mu.Lock()
	g.refs = append(g.refs, fmt.Sprintf("%s %s (%s)", r.Method, r.URL.Path, why))
	g.mu.Unlock()
	return true
}

func (g *faultGuard) why(r *http.Request, body []byte) string {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) > 0 && segs[0] == "v3": // Keystone: tokens
		return ""
	case len(segs) < 2 || segs[0] != "v2.0":
		return "not a Neutron call; the configuration has no servers or images"
	case segs[1] == "security-groups" && len(segs) == 2 && r.Method == http.MethodPost:
		var b struct {
			SecurityGroup struct{ Name string } `json:"security_group"`
		}
		json.Unmarshal(body, &b)
		if !g.ours(b.SecurityGroup.Name) {
			return fmt.Sprintf("creates group %q, not one of the configuration's", b.SecurityGroup.Name)
		}
		return ""
	case segs[1] == "security-groups" && len(segs) >= 3:
		return g.groupWhy(segs[2])
	case segs[1] == "security-group-rules" && len(segs) == 2 && r.Method == http.MethodPost:
		var b struct {
			One  *rules.CreateOpts  `json:"security_group_rule"`
			Many []rules.CreateOpts `json:"security_group_rules"`
		}
		json.Unmarshal(body, &b)
		if b.One != nil {
			b.Many = append(b.Many, *b.One)
		}
		for _, o := range b.Many {
			if why := g.groupWhy(o.SecGroupID); why != "" {
				return why
			}
		}
		return ""
	case segs[1] == "security-group-rules" && len(segs) == 3:
		rule, err := rules.Get(r.Context(), g.nc, segs[2]).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return ""
		}
		if err != nil {
			return "rule unreadable: " + err.Error()
		}
		return g.groupWhy(rule.SecGroupID)
	}
	return "not a security group call"
}

// groupWhy says why group id is not the case's to change ("" when it is): tagged with the
// configuration's ownership tags, or created during the case under one of its names.
func (g *faultGuard) groupWhy(id string) string {
	sg, err := groups.Get(context.Background(), g.nc, id).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return ""
	}
	if err != nil {
		return "group unreadable: " + err.Error()
	}
	if owned(sg.Tags, g.config) || hasTags(sg.Tags, lockTags(g.config)) {
		return ""
	}
	if g.before[id] == nil && g.ours(sg.Name) {
		return ""
	}
	return fmt.Sprintf("group %s (%s) is not owned by configuration %s (tags %v)", sg.Name, id, g.config, sg.Tags)
}

// ours reports whether a group of this name is the configuration's: one of its zone groups
// or its cloud lock.
func (g *faultGuard) ours(name string) bool {
	return strings.HasPrefix(name, g.config+"-") || name == lockName(g.config)
}

// The cloud lock of a configuration (provider/openstack/lock.go): claims, each a group of
// this name with these tags (several at once while contenders meet, so not a duplicate).
func lockName(config string) string { return "hardenctl-lock-" + config }
func lockTags(config string) []string {
	return []string{"managed-by:hardenctl", "hardenctl-lock:" + config}
}

func owned(tags []string, config string) bool { return hasTags(tags, plan.OwnerTags(config)) }

func hasTags(tags, want []string) bool {
	have := map[string]bool{}
	for _, t := range tags {
		have[t] = true
	}
	for _, t := range want {
		if !have[t] {
			return false
		}
	}
	return true
}

func projectGroups(t *testing.T, nc *gophercloud.ServiceClient) map[string]*groups.SecGroup {
	t.Helper()
	pages, err := groups.List(nc, groups.ListOpts{}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*groups.SecGroup{}
	for i := range all {
		out[all[i].ID] = &all[i]
	}
	return out
}

func foreignGroup(t *testing.T, nc *gophercloud.ServiceClient, name string) string {
	t.Helper()
	ctx := context.Background()
	g, err := groups.Create(ctx, nc, groups.CreateOpts{Name: name, Description: "not hardenctl's"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: g.ID, Direction: "ingress", EtherType: "IPv4",
		Protocol: "tcp", PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "0.0.0.0/0"}).Extract(); err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// fullFingerprint renders a group with every field of every rule.
func fullFingerprint(t *testing.T, nc *gophercloud.ServiceClient, id string) string {
	t.Helper()
	g, err := groups.Get(context.Background(), nc, id).Extract()
	if err != nil {
		return "unreadable: " + err.Error()
	}
	var rs []string
	for _, r := range g.Rules {
		rs = append(rs, fmt.Sprintf("%s/%s/%s/%s/%d-%d/%s/%s", r.ID, r.Direction, r.EtherType, r.Protocol, r.PortRangeMin, r.PortRangeMax, r.RemoteIPPrefix, r.RemoteGroupID))
	}
	sort.Strings(rs)
	tags := append([]string(nil), g.Tags...)
	sort.Strings(tags)
	return fmt.Sprintf("%s|%s|%v|%v|rev%d", g.Name, g.Description, tags, rs, g.RevisionNumber)
}

// faultState is what the cloud holds of one configuration.
type faultState struct {
	owned      map[string][]string // name -> ids of owned groups
	orphans    []string            // named like the configuration's, without its tags
	openEgress []string            // owned groups with Neutron's allow-all egress
}

func inspect(t *testing.T, nc *gophercloud.ServiceClient, config, foreign string) faultState {
	t.Helper()
	st := faultState{owned: map[string][]string{}}
	for _, g := range projectGroups(t, nc) {
		if g.Name == lockName(config) {
			if !hasTags(g.Tags, lockTags(config)) {
				st.orphans = append(st.orphans, fmt.Sprintf("%s (%s, tags %v)", g.Name, g.ID, g.Tags))
			}
			if open := allowAllEgress(g); len(open) > 0 {
				st.openEgress = append(st.openEgress, open...)
			}
			continue
		}
		if !strings.HasPrefix(g.Name, config+"-") || g.ID == foreign {
			continue
		}
		if !owned(g.Tags, config) {
			st.orphans = append(st.orphans, fmt.Sprintf("%s (%s, tags %v)", g.Name, g.ID, g.Tags))
			continue
		}
		st.owned[g.Name] = append(st.owned[g.Name], g.ID)
		st.openEgress = append(st.openEgress, allowAllEgress(g)...)
	}
	sort.Strings(st.orphans)
	sort.Strings(st.openEgress)
	return st
}

// allowAllEgress lists a group's rules that are Neutron's default egress: egress, any
// protocol, no ports, no remote.
func allowAllEgress(g *groups.SecGroup) []string {
	var out []string
	for _, r := range g.Rules {
		if r.Direction == "egress" && r.Protocol == "" && r.PortRangeMin == 0 && r.PortRangeMax == 0 && r.RemoteGroupID == "" &&
			r.RemoteAddressGroupID == "" && (r.RemoteIPPrefix == "" || r.RemoteIPPrefix == "0.0.0.0/0" || r.RemoteIPPrefix == "::/0") {
			out = append(out, g.Name+" "+r.EtherType)
		}
	}
	return out
}

func (s faultState) summary() string {
	var parts []string
	if len(s.orphans) > 0 {
		parts = append(parts, fmt.Sprintf("orphans %v", s.orphans))
	}
	var dups []string
	for n, ids := range s.owned {
		if len(ids) > 1 {
			dups = append(dups, fmt.Sprintf("%s x%d", n, len(ids)))
		}
	}
	sort.Strings(dups)
	if len(dups) > 0 {
		parts = append(parts, fmt.Sprintf("duplicates %v", dups))
	}
	if len(s.openEgress) > 0 {
		parts = append(parts, fmt.Sprintf("allow-all egress %v", s.openEgress))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func logFaultTable(t *testing.T, results []faultOutcome, elapsed time.Duration) {
	sort.Slice(results, func(i, j int) bool {
		a, b := results[i], results[j]
		if a.cmd != b.cmd {
			return a.cmd < b.cmd
		}
		if a.step != b.step {
			return a.step < b.step
		}
		return a.fault < b.fault
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-8s %-20s %-15s %-22s %-9s %-6s %s\n", "command", "step", "fault", "outcome", "converged", "time", "state after the faulty run / problems")
	bad := 0
	for _, r := range results {
		conv := "yes"
		if !r.converged {
			conv = "no"
		}
		note := r.afterFault
		if len(r.problems) > 0 {
			bad++
			note += " | PROBLEMS: " + strings.ReplaceAll(strings.Join(r.problems, "; "), "\n", " ")
		}
		fmt.Fprintf(&b, "%-8s %-20s %-15s %-22s %-9s %-6s %s\n", r.cmd, r.step, r.fault, r.outcome, conv, r.elapsed.Round(100*time.Millisecond), note)
	}
	fmt.Fprintf(&b, "%d cases, %d with problems, %s\n", len(results), bad, elapsed.Round(time.Second))
	t.Log(b.String())
}
