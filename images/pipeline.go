package images

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/internal/shell"
)

// Ownership tags and properties of published images.
const (
	TagManagedBy = "managed-by:hardenctl"
	tagImage     = "hardenctl-image:"
	tagConfig    = "hardenctl-config:"
	tagBuild     = "hardenctl-build:"
	tagBuilder   = "hardenctl-builder:" // and the configuration's name: what its builds made
	propPrefix   = "hardenctl_"
)

// Pipeline builds images. Its fields are its dependencies.
type Pipeline struct {
	Cloud Cloud
	SSH   SSH
	// RunDir receives the builder's scan results (ARF, report).
	RunDir string
	Logger *slog.Logger
	// Hook receives each step's start and end (nil: none).
	Hook func(StepEvent)
	// Now and NewID are replaced in tests.
	Now   func() time.Time
	NewID func() string
}

// StepEvent reports one step of a build.
type StepEvent struct {
	Step    string
	Done    bool
	Err     error
	Elapsed time.Duration
}

// Timing is how long one step took.
type Timing struct {
	Step    string        `json:"step"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Result is a finished build.
type Result struct {
	BuildID  string                `json:"build_id"`
	Image    Image                 `json:"image"` // the published image (empty when gated)
	Source   Image                 `json:"source"`
	Scan     *hardening.HostResult `json:"scan,omitempty"`
	Score    float64               `json:"score"`
	Gated    bool                  `json:"gated"` // below min_score: nothing published
	Retired  []string              `json:"retired,omitempty"`
	Timings  []Timing              `json:"timings"`
	Duration time.Duration         `json:"duration_ns"`
}

// GateError says the image did not reach the compliance gate; nothing was published.
type GateError struct {
	Image    string
	Score    float64
	MinScore float64
	Failed   []hardening.RuleResult // the failed rules, high severity first
}

func (e *GateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %s scored %.2f, below min_score %.2f: nothing was published", e.Image, e.Score, e.MinScore)
	if len(e.Failed) > 0 {
		b.WriteString("; failed rules:")
		for i, r := range e.Failed {
			if i == 10 {
				fmt.Fprintf(&b, " ... and %d more", len(e.Failed)-10)
				break
			}
			fmt.Fprintf(&b, " %s (%s)", strings.TrimPrefix(r.IDRef, "xccdf_org.ssgproject.content_rule_"), r.Severity)
		}
	}
	return b.String()
}

// build is the typed state the steps share.
type build struct {
	spec    Spec
	id      string
	name    string // the builder's name and the temporary resources' name
	workDir string // private: the temporary key and known_hosts
	keyFile string
	source  Image
	bastion string // the bastion's security group id
	keyPair string
	groupID string
	server  Server
	dialer  hardening.Dialer
	conn    hardening.Conn
	scan    *hardening.HostResult
	imageID string
	image   Image
	retired []string
}

// step is one stage of the pipeline; cleanup undoes only what run created and runs in
// reverse order, on success, failure or interrupt alike.
type step struct {
	name    string
	run     func(context.Context, *build) error
	cleanup func(context.Context, *build) error
}

// Build runs the pipeline for spec. Whatever happens, the builder server, its key pair and
// its security group are deleted at the end (unless spec.KeepBuilderOnFailure and the build
// failed), with a fresh 5-minute context if ctx was cancelled (Ctrl-C).
func (p *Pipeline) Build(ctx context.Context, spec Spec) (res *Result, err error) {
	p.defaults()
	b := &build{spec: spec, id: p.NewID()}
	b.name = buildPrefix(spec.Config) + spec.Name + "-" + b.id
	res = &Result{BuildID: b.id}
	start := p.Now()
	steps := p.steps()
	var done []step
	defer func() {
		keep := err != nil && spec.KeepBuilderOnFailure
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		for i := len(done) - 1; i >= 0; i-- {
			s := done[i]
			if s.cleanup == nil {
				continue
			}
			if keep && s.name != "prepare" {
				p.Logger.Warn("keeping the builder for debugging", "step", s.name, "server", b.server.ID, "key_pair", b.keyPair, "group", b.groupID)
				continue
			}
			if cerr := s.cleanup(cctx, b); cerr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after %s: %w", s.name, cerr))
			}
		}
		res.Duration = p.Now().Sub(start)
		res.Source, res.Image, res.Scan, res.Retired = b.source, b.image, b.scan, b.retired
	}()
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("build %s interrupted before %s: %w", spec.Name, s.name, err)
		}
		p.Hook(StepEvent{Step: s.name})
		t0 := p.Now()
		done = append(done, s)
		serr := s.run(ctx, b)
		el := p.Now().Sub(t0)
		res.Timings = append(res.Timings, Timing{Step: s.name, Elapsed: el})
		p.Hook(StepEvent{Step: s.name, Done: true, Err: serr, Elapsed: el})
		if b.scan != nil && b.scan.Result != nil {
			res.Score = b.scan.Result.Score
		}
		if serr != nil {
			var gate *GateError
			res.Gated = errors.As(serr, &gate)
			return res, fmt.Errorf("build %s: %s: %w", spec.Name, s.name, serr)
		}
	}
	return res, nil
}

func (p *Pipeline) defaults() {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Hook == nil {
		p.Hook = func(StepEvent) {}
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.NewID == nil {
		p.NewID = func() string {
			var b [4]byte
			rand.Read(b[:])
			return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
		}
	}
}

func (p *Pipeline) steps() []step {
	return []step{
		{name: "clean earlier builds", run: func(ctx context.Context, b *build) error {
			_, err := p.GC(ctx, b.spec.Config)
			return err
		}},
		{name: "prepare", run: p.prepare, cleanup: func(_ context.Context, b *build) error { return os.RemoveAll(b.workDir) }},
		{name: "resolve source", run: p.resolveSource},
		{name: "bastion group", run: p.findBastionGroup},
		{name: "key pair", run: p.createKeyPair, cleanup: func(ctx context.Context, b *build) error {
			if b.keyPair == "" {
				return nil
			}
			return p.Cloud.DeleteKeyPair(ctx, b.keyPair)
		}},
		{name: "security group", run: p.createGroup, cleanup: func(ctx context.Context, b *build) error {
			if b.groupID == "" {
				return nil
			}
			return p.Cloud.DeleteSecurityGroup(ctx, b.groupID)
		}},
		{name: "boot builder", run: p.boot, cleanup: func(ctx context.Context, b *build) error {
			if b.conn != nil {
				b.conn.Close()
			}
			if c, ok := b.dialer.(io.Closer); ok {
				c.Close()
			}
			if b.server.ID == "" {
				return nil
			}
			return p.Cloud.DeleteServer(ctx, b.server.ID)
		}},
		{name: "wait for ssh", run: p.waitSSH},
		{name: "configure mirrors", run: p.configureMirrors},
		{name: "update packages", run: p.updatePackages},
		{name: "harden and scan", run: p.hardenAndScan},
		{name: "gate", run: p.gate},
		{name: "clean image", run: p.cleanImage},
		{name: "stop builder", run: func(ctx context.Context, b *build) error { return p.Cloud.StopServer(ctx, b.server.ID) }},
		{name: "snapshot", run: p.snapshot, cleanup: func(ctx context.Context, b *build) error {
			if b.imageID == "" || b.image.ID != "" {
				return nil // nothing started, or published: keep it
			}
			return p.Cloud.DeleteImage(ctx, b.imageID) // a half-made image is never left behind
		}},
		{name: "retire old images", run: p.retire},
	}
}

func (p *Pipeline) prepare(ctx context.Context, b *build) error {
	dir, err := os.MkdirTemp("", buildPrefix(b.spec.Config))
	if err != nil {
		return fmt.Errorf("make a private work directory: %w", err)
	}
	b.workDir = dir
	return nil
}

func (p *Pipeline) resolveSource(ctx context.Context, b *build) error {
	found, err := p.Cloud.FindImages(ctx, b.spec.Source)
	if err != nil {
		return err
	}
	var active []Image
	for _, im := range found {
		if im.Status == "active" {
			active = append(active, im)
		}
	}
	switch {
	case len(active) == 0:
		return fmt.Errorf("no active source image matches %s", describeQuery(b.spec.Source))
	case len(active) > 1 && !b.spec.MostRecent:
		return fmt.Errorf("%d images match %s; set most_recent = true to take the newest, or narrow the source", len(active), describeQuery(b.spec.Source))
	}
	b.source = active[0] // FindImages sorts newest first
	return nil
}

func describeQuery(q ImageQuery) string {
	var parts []string
	if q.Name != "" {
		parts = append(parts, fmt.Sprintf("name %q", q.Name))
	}
	if len(q.Tags) > 0 {
		parts = append(parts, fmt.Sprintf("tags %v", q.Tags))
	}
	keys := make([]string, 0, len(q.Properties))
	for k := range q.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%s", k, q.Properties[k]))
	}
	return strings.Join(parts, ", ")
}

// createKeyPair makes a key for this build only: its private half never leaves the work
// directory (mode 0600), its public half goes to Nova.
func (p *Pipeline) createKeyPair(ctx context.Context, b *build) error {
	priv, pub, err := p.SSH.NewKeyPair("hardenctl build " + b.id)
	if err != nil {
		return err
	}
	b.keyFile = filepath.Join(b.workDir, "id_ed25519")
	if err := os.WriteFile(b.keyFile, priv, 0o600); err != nil {
		return err
	}
	if err := p.Cloud.CreateKeyPair(ctx, b.name, pub); err != nil {
		return err
	}
	b.keyPair = b.name
	return nil
}

// buildPrefix starts the name of everything a build of configuration cfg makes: builder,
// key pair, security group, private work directory. Configuration names have no "_", so the
// prefix of one is never that of another.
func buildPrefix(cfg string) string { return "hardenctl-build_" + cfg + "_" }

// propBuildConfig is the property that names the configuration of a build's snapshot until
// it is published with its tags.
const propBuildConfig = propPrefix + "build_config"

// tags mark the builder and its group: hardenctl's, this build's, this configuration's builds'.
func (b *build) tags() []string {
	return []string{TagManagedBy, tagBuild + b.id, tagBuilder + b.spec.Config}
}

// GC removes what earlier builds of configuration cfg left behind (killed, or kept for
// debugging): builders, their security groups and key pairs, unpublished snapshots, and
// private work directories (with their keys) in this machine's temporary directory. It must
// run under the configuration's lock, or it would take a running build's builder away.
func (p *Pipeline) GC(ctx context.Context, cfg string) ([]string, error) {
	p.defaults()
	left, err := p.Cloud.FindBuildLeftovers(ctx, []string{TagManagedBy, tagBuilder + cfg}, buildPrefix(cfg))
	if err != nil {
		return nil, fmt.Errorf("find what earlier builds left: %w", err)
	}
	var removed []string
	var errs []error
	done := func(what string, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		removed = append(removed, what)
		p.Logger.Warn("removed what an earlier build left", "what", what)
	}
	for _, id := range left.Servers { // before their groups, which they use
		done("server "+id, p.Cloud.DeleteServer(ctx, id))
	}
	for _, id := range left.Groups {
		done("security group "+id, p.Cloud.DeleteSecurityGroup(ctx, id))
	}
	for _, name := range left.KeyPairs {
		done("key pair "+name, p.Cloud.DeleteKeyPair(ctx, name))
	}
	snaps, err := p.Cloud.FindImages(ctx, ImageQuery{Properties: map[string]string{propBuildConfig: cfg}, OwnProject: true})
	if err != nil {
		errs = append(errs, fmt.Errorf("find unpublished snapshots: %w", err))
	}
	for _, im := range snaps {
		if !slices.Contains(im.Tags, TagManagedBy) { // published images have their tags
			done("unpublished image "+im.ID, p.Cloud.DeleteImage(ctx, im.ID))
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildPrefix(cfg)+"*"))
	for _, d := range dirs {
		done("work directory "+d, os.RemoveAll(d))
	}
	return removed, errors.Join(errs...)
}

// findBastionGroup finds the bastion's security group, owned by this configuration: the
// builder takes SSH from its members only. Without it nothing is created, let alone booted:
// a build group that names no remote group would let SSH in from anywhere.
func (p *Pipeline) findBastionGroup(ctx context.Context, b *build) error {
	if b.spec.BastionGroup == "" {
		return errors.New("the configuration has no bastion: builders take SSH only from the bastion's security group; add a bastion block and apply it")
	}
	id, err := p.Cloud.FindSecurityGroup(ctx, b.spec.BastionGroup, ownerTags(b.spec.Config))
	if err != nil {
		return fmt.Errorf("find the bastion's security group (builders take SSH only from it; hardenctl apply creates it): %w", err)
	}
	b.bastion = id
	return nil
}

// ownerTags mark what configuration cfg owns.
func ownerTags(cfg string) []string { return []string{TagManagedBy, tagConfig + cfg} }

func (p *Pipeline) createGroup(ctx context.Context, b *build) error {
	id, err := p.Cloud.CreateBuildGroup(ctx, b.name, b.bastion, b.tags())
	if err != nil {
		return err
	}
	b.groupID = id
	return nil
}

func (p *Pipeline) boot(ctx context.Context, b *build) error {
	id, err := p.Cloud.CreateServer(ctx, ServerSpec{Name: b.name, ImageID: b.source.ID, Flavor: b.spec.Flavor,
		Network: b.spec.Network, SecurityGroups: []string{b.groupID}, KeyName: b.keyPair,
		Metadata: map[string]string{"hardenctl_build": b.id, "hardenctl_image": b.spec.Name},
		Tags:     b.tags()})
	if err != nil {
		return err
	}
	b.server.ID = id
	bctx, cancel := context.WithTimeout(ctx, b.spec.bootTimeout())
	defer cancel()
	srv, err := p.Cloud.WaitServer(bctx, id, "ACTIVE")
	if err != nil {
		return err
	}
	b.server = srv
	if srv.Address == "" {
		return fmt.Errorf("builder %s has no IPv4 address on network %s", id, b.spec.Network)
	}
	return nil
}

// waitSSH reads the builder's host keys from its console (no trust on first use), then
// connects through the bastion, retrying until sshd answers.
func (p *Pipeline) waitSSH(ctx context.Context, b *build) error {
	wctx, cancel := context.WithTimeout(ctx, b.spec.bootTimeout())
	defer cancel()
	var lines string
	for {
		out, err := p.Cloud.ConsoleOutput(wctx, b.server.ID)
		if err != nil {
			return err
		}
		if lines, err = p.SSH.ConsoleKnownHosts(out, b.server.Address); err != nil {
			return fmt.Errorf("builder %s: %w", b.server.ID, err)
		}
		if lines != "" {
			break
		}
		if err := sleep(wctx, 2*time.Second); err != nil {
			return fmt.Errorf("builder %s printed no SSH host keys on its console: %w", b.server.ID, err)
		}
	}
	known := filepath.Join(b.workDir, "known_hosts")
	if err := p.SSH.WriteKnownHosts(known, lines); err != nil {
		return err
	}
	d, err := p.SSH.Dialer(wctx, known, b.keyFile)
	if err != nil {
		return err
	}
	b.dialer = d
	host := hardening.Host{Name: b.name, Address: b.server.Address}
	var last error
	for {
		conn, err := d.Dial(wctx, host)
		if err == nil {
			b.conn = conn
			return nil
		}
		var changed hostKeyChanged
		if errors.As(err, &changed) && changed.HostKeyChanged() {
			return fmt.Errorf("builder %s answers with a host key its console did not print: %w", b.server.Address, err)
		}
		last = err
		if err := sleep(wctx, 2*time.Second); err != nil {
			return fmt.Errorf("SSH to builder %s through the bastion: %w (last: %v)", b.server.Address, err, last)
		}
	}
}

// hostKeyChanged is satisfied by the SSH layer's error for a host that presents another key
// than known_hosts has.
type hostKeyChanged interface {
	error
	HostKeyChanged() bool
}

// run runs a shell script on the builder and returns a clear error with stderr's end.
func run(ctx context.Context, c hardening.Conn, what, script string) error {
	var stderr tail
	code, err := c.Run(ctx, script, io.Discard, &stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != 0 {
		return fmt.Errorf("%s: exit status %d: %s", what, code, stderr.String())
	}
	return nil
}

// configureMirrors points the builder at the internal mirrors only: public repositories are
// removed, and container registries are redirected (and public ones blocked when asked).
func (p *Pipeline) configureMirrors(ctx context.Context, b *build) error {
	var sh strings.Builder
	sh.WriteString("set -e\n")
	if err := uploadMirrorKeys(ctx, b.conn, b.spec.Mirrors, &sh); err != nil {
		return err
	}
	var apt, yum []Mirror
	for _, m := range b.spec.Mirrors {
		if m.Kind == "yum" {
			yum = append(yum, m)
		} else {
			apt = append(apt, m)
		}
	}
	if len(apt) > 0 {
		sh.WriteString("if [ -d /etc/apt ]; then\n  mkdir -p /etc/apt/sources.list.d /root/hardenctl-disabled-sources\n")
		sh.WriteString("  for f in /etc/apt/sources.list.d/*; do [ -e \"$f\" ] && mv \"$f\" /root/hardenctl-disabled-sources/; done\n")
		sh.WriteString("  : > /etc/apt/sources.list\n")
		fmt.Fprintf(&sh, "  cat > /etc/apt/sources.list.d/hardenctl-mirrors.list <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\nfi\n", aptSources(apt))
	}
	if len(yum) > 0 {
		sh.WriteString("if [ -d /etc/yum.repos.d ]; then\n  for f in /etc/yum.repos.d/*.repo; do [ -e \"$f\" ] && sed -i 's/^enabled=.*/enabled=0/' \"$f\"; done\n")
		fmt.Fprintf(&sh, "  cat > /etc/yum.repos.d/hardenctl-mirrors.repo <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\nfi\n", yumRepos(yum))
	}
	if len(b.spec.Registries) > 0 {
		conf, daemon := registriesConf(b.spec.Registries)
		fmt.Fprintf(&sh, "mkdir -p /etc/containers /etc/docker\ncat > /etc/containers/registries.conf <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\n", conf)
		fmt.Fprintf(&sh, "cat > /etc/docker/daemon.json <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\n", daemon)
	}
	return run(ctx, b.conn, "configure mirrors on the builder", sh.String())
}

func aptSources(ms []Mirror) string {
	var b strings.Builder
	for _, m := range ms {
		suites, comps := m.Suites, m.Components
		if len(suites) == 0 {
			suites = []string{"bookworm"}
		}
		if len(comps) == 0 {
			comps = []string{"main"}
		}
		opt := ""
		switch {
		case m.Trusted:
			opt = "[trusted=yes] "
		case len(m.GPGKey) > 0:
			opt = "[signed-by=" + mirrorKeyPath(m) + "] "
		}
		for _, s := range suites {
			fmt.Fprintf(&b, "deb %s%s %s %s\n", opt, m.URL, s, strings.Join(comps, " "))
		}
	}
	return b.String()
}

func yumRepos(ms []Mirror) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "[hardenctl-%s]\nname=%s (hardenctl mirror)\nbaseurl=%s\nenabled=1\n", m.Name, m.Name, m.URL)
		switch {
		case m.Trusted:
			b.WriteString("gpgcheck=0\n")
		case len(m.GPGKey) > 0:
			fmt.Fprintf(&b, "gpgcheck=1\ngpgkey=file://%s\n", mirrorKeyPath(m))
		default:
			b.WriteString("gpgcheck=1\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// mirrorKeyPath is where a mirror's signing key is installed on the builder.
func mirrorKeyPath(m Mirror) string {
	if m.Kind == "yum" {
		return "/etc/pki/rpm-gpg/RPM-GPG-KEY-hardenctl-" + m.Name
	}
	return "/etc/apt/keyrings/hardenctl-" + m.Name + ".asc"
}

// mirrorKeyUpload is where a key is uploaded first: SFTP runs as the login user, so the
// script installs it (as root) where mirrorKeyPath says.
const mirrorKeyUpload = "/tmp/hardenctl-mirror-keys/"

// uploadMirrorKeys uploads the signing keys of the mirrors that have one (and are not
// trusted) and adds their installation to the script sh.
func uploadMirrorKeys(ctx context.Context, c hardening.Conn, ms []Mirror, sh *strings.Builder) error {
	for _, m := range ms {
		if m.Trusted || len(m.GPGKey) == 0 {
			continue
		}
		up := mirrorKeyUpload + m.Name + ".asc"
		if err := c.Upload(ctx, up, bytes.NewReader(m.GPGKey), 0o644); err != nil {
			return fmt.Errorf("upload the signing key of mirror %s: %w", m.Name, err)
		}
		fmt.Fprintf(sh, "install -D -m 0644 %s %s\n", shell.Quote(up), shell.Quote(mirrorKeyPath(m)))
	}
	return nil
}

// registriesConf renders containers-registries.conf(5) and Docker's daemon.json.
func registriesConf(rs []Registry) (string, string) {
	var conf strings.Builder
	block := false
	var mirrors []string
	for _, r := range rs {
		mirrors = append(mirrors, strconv.Quote("https://"+r.URL))
		block = block || r.BlockPublic
	}
	conf.WriteString("unqualified-search-registries = [" + strconv.Quote(rs[0].URL) + "]\n")
	for _, pub := range []string{"docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "gcr.io"} {
		fmt.Fprintf(&conf, "\n[[registry]]\nprefix = %q\nlocation = %q\nblocked = %t\n", pub, pub, block)
		for _, r := range rs {
			fmt.Fprintf(&conf, "[[registry.mirror]]\nlocation = %q\n", r.URL+"/"+pub)
		}
	}
	daemon := fmt.Sprintf("{\n  \"registry-mirrors\": [%s]\n}\n", strings.Join(mirrors, ", "))
	return conf.String(), daemon
}

func (p *Pipeline) updatePackages(ctx context.Context, b *build) error {
	script := `set -e
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null; then
  apt-get -q update
  apt-get -q -y -o Dpkg::Options::=--force-confold upgrade
elif command -v dnf >/dev/null; then dnf -y upgrade
elif command -v yum >/dev/null; then yum -y update
fi`
	return run(ctx, b.conn, "update packages from the mirrors", script)
}

func (p *Pipeline) hardenAndScan(ctx context.Context, b *build) error {
	s := &hardening.Scanner{Dialer: b.dialer, Content: b.spec.Content, Profile: b.spec.Profile, Tailoring: b.spec.Tailoring,
		Remediate: true, Timeout: b.spec.hardenTimeout(), RunDir: p.RunDir, LoginUser: b.spec.SSHUser, Logger: p.Logger}
	res := s.Host(ctx, hardening.Host{Name: b.name, Address: b.server.Address})
	b.scan = &res
	if !res.Status.Ran() || res.Result == nil {
		return fmt.Errorf("harden and scan the builder: %s: %s", res.Status, res.Error)
	}
	// The scanner opened its own connections; the guard may have restarted sshd.
	if b.conn != nil {
		b.conn.Close()
	}
	conn, err := b.dialer.Dial(ctx, hardening.Host{Name: b.name, Address: b.server.Address})
	if err != nil {
		return fmt.Errorf("reconnect to the builder after hardening: %w", err)
	}
	b.conn = conn
	return nil
}

func (p *Pipeline) gate(ctx context.Context, b *build) error {
	r := b.scan.Result
	if r.Score >= b.spec.MinScore {
		return nil
	}
	var failed []hardening.RuleResult
	for _, rr := range r.Rules {
		if rr.Result == "fail" || rr.Result == "error" {
			failed = append(failed, rr)
		}
	}
	rank := map[string]int{"high": 0, "medium": 1, "low": 2}
	sort.SliceStable(failed, func(i, j int) bool {
		ri, ok := rank[failed[i].Severity]
		if !ok {
			ri = 3
		}
		rj, ok := rank[failed[j].Severity]
		if !ok {
			rj = 3
		}
		return ri < rj
	})
	return &GateError{Image: b.spec.Name, Score: r.Score, MinScore: b.spec.MinScore, Failed: failed}
}

// cleanImage removes what must not be baked into an image: host keys (each server makes
// its own), the machine id, the build's key, shell history, package caches, logs of the build.
func (p *Pipeline) cleanImage(ctx context.Context, b *build) error {
	script := `set -e
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
for d in /root /home/*; do
  [ -d "$d" ] || continue
  rm -f "$d/.bash_history" "$d/.lesshst" "$d/.viminfo"
  [ -f "$d/.ssh/authorized_keys" ] && : > "$d/.ssh/authorized_keys"
done
rm -rf /root/hardenctl-disabled-sources
if command -v apt-get >/dev/null; then apt-get clean; rm -rf /var/lib/apt/lists/*; fi
if command -v dnf >/dev/null; then dnf clean all; fi
rm -rf /tmp/* /var/tmp/*
sync`
	return run(ctx, b.conn, "clean the image", script)
}

func (p *Pipeline) snapshot(ctx context.Context, b *build) error {
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
	name := b.spec.Name
	id, err := p.Cloud.Snapshot(ctx, b.server.ID, name, map[string]string{propPrefix + "build": b.id, propBuildConfig: b.spec.Config})
	if err != nil {
		return err
	}
	b.imageID = id
	if _, err := p.Cloud.WaitImage(ctx, id); err != nil {
		return err
	}
	r := b.scan.Result
	props := map[string]string{
		propPrefix + "profile":        b.spec.Profile.Name,
		propPrefix + "scap_profile":   r.Profile,
		propPrefix + "datastream":     b.scan.Datastream.Name,
		propPrefix + "datastream_sha": b.scan.Datastream.SHA256,
		propPrefix + "score":          strconv.FormatFloat(r.Score, 'f', 2, 64),
		propPrefix + "scoring_system": r.ScoringSystem,
		propPrefix + "min_score":      strconv.FormatFloat(b.spec.MinScore, 'f', 2, 64),
		propPrefix + "failed_high":    strconv.Itoa(r.Failed.High),
		propPrefix + "failed_medium":  strconv.Itoa(r.Failed.Medium),
		propPrefix + "failed_low":     strconv.Itoa(r.Failed.Low),
		propPrefix + "source_image":   b.source.ID,
		propPrefix + "source_name":    b.source.Name,
		propPrefix + "build":          b.id,
		propPrefix + "built_at":       p.Now().UTC().Format(time.RFC3339),
	}
	tags := append(ownerTags(b.spec.Config), tagImage+b.spec.Name)
	if err := p.Cloud.SetImageProperties(ctx, id, props, tags); err != nil {
		return err
	}
	im, err := p.Cloud.WaitImage(ctx, id)
	if err != nil {
		return err
	}
	b.image = im
	return nil
}

// OwnedQuery selects the images of this name that configuration cfg built, in the token's
// project: its tags AND the project make ownership, never the name alone.
func OwnedQuery(cfg, name string) ImageQuery {
	return ImageQuery{Tags: append(ownerTags(cfg), tagImage+name), OwnProject: true}
}

// Owns says whether im carries every tag of q (checked on the image itself, whatever the
// cloud's filter did).
func (q ImageQuery) Owns(im Image) bool {
	for _, t := range q.Tags {
		if !slices.Contains(im.Tags, t) {
			return false
		}
	}
	return true
}

// retire deactivates (or deletes) the managed images of this name beyond the newest Keep.
func (p *Pipeline) retire(ctx context.Context, b *build) error {
	if b.spec.Keep <= 0 {
		return nil
	}
	q := OwnedQuery(b.spec.Config, b.spec.Name)
	all, err := p.Cloud.FindImages(ctx, q)
	if err != nil {
		return err
	}
	kept := 0
	var errs []error
	for _, im := range all { // newest first
		if im.Status != "active" || !q.Owns(im) {
			continue
		}
		if kept < b.spec.Keep {
			kept++
			continue
		}
		if b.spec.Retire == "delete" {
			err = p.Cloud.DeleteImage(ctx, im.ID)
		} else {
			err = p.Cloud.DeactivateImage(ctx, im.ID)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.retired = append(b.retired, im.ID)
	}
	return errors.Join(errs...)
}

func (s Spec) bootTimeout() time.Duration {
	if s.BootTimeout > 0 {
		return s.BootTimeout
	}
	return 10 * time.Minute
}

func (s Spec) hardenTimeout() time.Duration {
	if s.HardenTimeout > 0 {
		return s.HardenTimeout
	}
	return 30 * time.Minute
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tail keeps the last 2 KiB written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.b)) }
