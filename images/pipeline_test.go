package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/hardening"
)

// fakeCloud tracks what exists. Error paths only: the integration test builds a real image
// on the test bed.
type fakeCloud struct {
	mu       sync.Mutex
	live     map[string]bool // "server:ID", "keypair:NAME", "group:ID", "image:ID"
	console  string
	n        int
	deleted  []string
	failBoot bool
	images   []Image // what FindImages returns; nil: one base image
	// buildGroupRemote is the bastion group the last build group was made for.
	buildGroupRemote string
	noBastion        bool // FindSecurityGroup finds nothing
	created          []string
	left             Leftovers // what FindBuildLeftovers finds
	gcQuery          []string
	snapshots        []Image // what a query by build property finds
}

func newFakeCloud() *fakeCloud { return &fakeCloud{live: map[string]bool{}} }

func (f *fakeCloud) add(kind string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("%s-%d", kind, f.n)
	f.live[kind+":"+id] = true
	return id
}

func (f *fakeCloud) del(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, key)
	f.deleted = append(f.deleted, key)
	return nil
}

func (f *fakeCloud) FindImages(_ context.Context, q ImageQuery) ([]Image, error) {
	if len(q.Properties) > 0 {
		return f.snapshots, nil // images of earlier builds, as a cloud that ignores filters lists them
	}
	if f.images == nil {
		return []Image{{ID: "base", Name: "debian-12-base", Status: "active"}}, nil
	}
	// Like a cloud whose tag filter is ignored: every image comes back.
	return f.images, nil
}
func (f *fakeCloud) FindSecurityGroup(_ context.Context, name string, tags []string) (string, error) {
	if f.noBastion {
		return "", fmt.Errorf("no security group %s tagged %v", name, tags)
	}
	return "bastion-group-id", nil
}
func (f *fakeCloud) CreateKeyPair(_ context.Context, name, _ string) error {
	f.mu.Lock()
	f.live["keypair:"+name] = true
	f.created = append(f.created, "keypair:"+name)
	f.mu.Unlock()
	return nil
}
func (f *fakeCloud) DeleteKeyPair(_ context.Context, name string) error {
	return f.del("keypair:" + name)
}
func (f *fakeCloud) CreateBuildGroup(_ context.Context, _, bastionGroupID string, _ []string) (string, error) {
	f.buildGroupRemote = bastionGroupID
	return f.add("group"), nil
}
func (f *fakeCloud) DeleteSecurityGroup(_ context.Context, id string) error {
	return f.del("group:" + id)
}
func (f *fakeCloud) CreateServer(context.Context, ServerSpec) (string, error) {
	id := f.add("server")
	f.mu.Lock()
	f.created = append(f.created, "server:"+id)
	f.mu.Unlock()
	return id, nil
}
func (f *fakeCloud) WaitServer(_ context.Context, id, status string) (Server, error) {
	if f.failBoot {
		return Server{}, errors.New("server " + id + " went to ERROR: No valid host was found")
	}
	return Server{ID: id, Status: status, Address: "10.252.0.40"}, nil
}
func (f *fakeCloud) ConsoleOutput(context.Context, string) (string, error) { return f.console, nil }
func (f *fakeCloud) StopServer(context.Context, string) error              { return nil }
func (f *fakeCloud) DeleteServer(_ context.Context, id string) error       { return f.del("server:" + id) }
func (f *fakeCloud) Snapshot(context.Context, string, string, map[string]string) (string, error) {
	return f.add("image"), nil
}
func (f *fakeCloud) WaitImage(_ context.Context, id string) (Image, error) {
	return Image{ID: id, Status: "active"}, nil
}
func (f *fakeCloud) SetImageProperties(context.Context, string, map[string]string, []string) error {
	return nil
}
func (f *fakeCloud) DeactivateImage(_ context.Context, id string) error {
	f.mu.Lock()
	f.deleted = append(f.deleted, "deactivate:"+id)
	f.mu.Unlock()
	return nil
}
func (f *fakeCloud) DeleteImage(_ context.Context, id string) error { return f.del("image:" + id) }

func (f *fakeCloud) FindBuildLeftovers(_ context.Context, tags []string, prefix string) (Leftovers, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gcQuery = append(f.gcQuery, fmt.Sprint(tags, " ", prefix))
	return f.left, nil
}

func (f *fakeCloud) leftovers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.live {
		out = append(out, k)
	}
	return out
}

// noSSH makes keys and reads no console; it dials nothing.
type noSSH struct{}

func (noSSH) NewKeyPair(string) ([]byte, string, error) {
	return []byte("private key\n"), "ssh-ed25519 AAAAfake", nil
}
func (noSSH) ConsoleKnownHosts(string, string) (string, error) { return "", nil }
func (noSSH) WriteKnownHosts(path, lines string) error {
	return os.WriteFile(path, []byte(lines), 0o600)
}
func (noSSH) Dialer(context.Context, string, string) (hardening.Dialer, error) {
	return nil, errors.New("no SSH in this test")
}

func TestBuildInterruptedCleansUp(t *testing.T) {
	f := newFakeCloud()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &Pipeline{Cloud: f, SSH: noSSH{}, Hook: func(e StepEvent) {
		if e.Step == "wait for ssh" && !e.Done {
			cancel() // Ctrl-C while waiting for the builder's console
		}
	}}
	_, err := p.Build(ctx, Spec{Name: "node", Source: ImageQuery{Name: "debian-12-base"}, Flavor: "m1.small", Network: "platform",
		BastionGroup: "c-bastion", BootTimeout: time.Minute})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the interruption", err)
	}
	if left := f.leftovers(); len(left) != 0 {
		t.Errorf("an interrupted build left %v behind", left)
	}
	if len(f.deleted) != 3 {
		t.Errorf("deleted %v, want the server, the group and the key pair", f.deleted)
	}
}

func TestBuildFailedBootCleansUp(t *testing.T) {
	f := newFakeCloud()
	f.failBoot = true
	p := &Pipeline{Cloud: f, SSH: noSSH{}}
	res, err := p.Build(context.Background(), Spec{Name: "node", Source: ImageQuery{Name: "debian-12-base"}, BastionGroup: "c-bastion"})
	if err == nil || !strings.Contains(err.Error(), "boot builder: server server-") || !strings.Contains(err.Error(), "No valid host") {
		t.Fatalf("err = %v", err)
	}
	if left := f.leftovers(); len(left) != 0 {
		t.Errorf("a failed build left %v behind", left)
	}
	if len(res.Timings) != 7 || res.Timings[6].Step != "boot builder" {
		t.Errorf("timings = %+v, want seven steps up to the boot", res.Timings)
	}
	if f.buildGroupRemote != "bastion-group-id" {
		t.Errorf("the build group takes SSH from remote group %q, want the bastion's group", f.buildGroupRemote)
	}
}

func TestBuildKeepsBuilderWhenAsked(t *testing.T) {
	f := newFakeCloud()
	f.failBoot = true
	p := &Pipeline{Cloud: f, SSH: noSSH{}}
	_, err := p.Build(context.Background(), Spec{Name: "node", Source: ImageQuery{Name: "debian-12-base"}, BastionGroup: "c-bastion", KeepBuilderOnFailure: true})
	if err == nil {
		t.Fatal("want an error")
	}
	if left := f.leftovers(); len(left) != 3 {
		t.Errorf("with keep_builder_on_failure the builder, key pair and group stay; left: %v", left)
	}
}

// Without the bastion's group the build stops before it creates anything: a build group with
// no remote group would take SSH from anywhere.
func TestBuildWithoutBastionGroupBootsNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		group     string
		noBastion bool
		want      string
	}{
		{"no bastion block", "", false, "the configuration has no bastion"},
		{"bastion group not applied", "c-bastion", true, "find the bastion's security group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCloud()
			f.noBastion = tc.noBastion
			p := &Pipeline{Cloud: f, SSH: noSSH{}}
			_, err := p.Build(context.Background(), Spec{Name: "node", Config: "c", Source: ImageQuery{Name: "debian-12-base"}, BastionGroup: tc.group})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(f.created) != 0 || f.n != 0 {
				t.Errorf("created %v before failing", f.created)
			}
		})
	}
}

// Retiring looks at this configuration's images only: another configuration's image of the
// same name is never touched, even when the cloud's tag filter lets it through.
func TestRetireTouchesOnlyOwnImages(t *testing.T) {
	f := newFakeCloud()
	now := time.Now()
	mine := func(id string, age time.Duration) Image {
		return Image{ID: id, Status: "active", CreatedAt: now.Add(-age), Tags: []string{TagManagedBy, tagConfig + "a", tagImage + "node"}}
	}
	f.images = []Image{
		mine("a-new", 1*time.Hour),
		{ID: "b-1", Status: "active", CreatedAt: now.Add(-2 * time.Hour), Tags: []string{TagManagedBy, tagConfig + "b", tagImage + "node"}},
		{ID: "b-2", Status: "active", CreatedAt: now.Add(-3 * time.Hour), Tags: []string{TagManagedBy, tagImage + "node"}},
		mine("a-old", 4*time.Hour),
	}
	b := &build{spec: Spec{Name: "node", Config: "a", Keep: 1}}
	if err := (&Pipeline{Cloud: f}).retire(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if strings.Join(b.retired, ",") != "a-old" || strings.Join(f.deleted, ",") != "deactivate:a-old" {
		t.Errorf("retired %v (cloud saw %v), want only a-old", b.retired, f.deleted)
	}
}

func TestGateNamesFailedRules(t *testing.T) {
	b := &build{spec: Spec{Name: "node", MinScore: 90}, scan: &hardening.HostResult{Result: &hardening.Result{Score: 61.5,
		Rules: []hardening.RuleResult{
			{IDRef: "xccdf_org.ssgproject.content_rule_partition_for_tmp", Result: "fail", Severity: "low"},
			{IDRef: "xccdf_org.ssgproject.content_rule_sshd_disable_root_login", Result: "fail", Severity: "high"},
			{IDRef: "xccdf_org.ssgproject.content_rule_ok", Result: "pass", Severity: "high"},
		}}}}
	err := (&Pipeline{}).gate(context.Background(), b)
	var gate *GateError
	if !errors.As(err, &gate) {
		t.Fatalf("err = %v, want a GateError", err)
	}
	want := "image node scored 61.50, below min_score 90.00: nothing was published; failed rules: sshd_disable_root_login (high) partition_for_tmp (low)"
	if err.Error() != want {
		t.Errorf("gate error:\n got %s\nwant %s", err, want)
	}
}

func TestMirrorsAndRegistries(t *testing.T) {
	got := aptSources([]Mirror{{URL: "http://10.252.0.2:8080/debian", Trusted: true}})
	if got != "deb [trusted=yes] http://10.252.0.2:8080/debian bookworm main\n" {
		t.Errorf("apt sources = %q", got)
	}
	conf, daemon := registriesConf([]Registry{{URL: "registry.internal:5000", BlockPublic: true}})
	if !strings.Contains(conf, "prefix = \"docker.io\"\nlocation = \"docker.io\"\nblocked = true") ||
		!strings.Contains(daemon, `"registry-mirrors": ["https://registry.internal:5000"]`) {
		t.Errorf("registries.conf:\n%s\ndaemon.json:\n%s", conf, daemon)
	}
}

// What a killed build of this configuration left (builder, group, key pair, private key
// directory) is removed first; another configuration's directory is not.
func TestGCRemovesEarlierBuilds(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mine, _ := os.MkdirTemp("", buildPrefix("c"))
	theirs, _ := os.MkdirTemp("", buildPrefix("c-x"))
	os.WriteFile(filepath.Join(mine, "id_ed25519"), []byte("key"), 0o600)
	f := newFakeCloud()
	f.left = Leftovers{Servers: []string{"s1"}, Groups: []string{"g1"}, KeyPairs: []string{buildPrefix("c") + "node-1"}}
	f.snapshots = []Image{
		{ID: "half-made", Properties: map[string]string{propBuildConfig: "c"}},
		{ID: "published", Properties: map[string]string{propBuildConfig: "c"}, Tags: []string{TagManagedBy, tagConfig + "c"}},
	}
	removed, err := (&Pipeline{Cloud: f}).GC(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.deleted, ","); got != "server:s1,group:g1,keypair:hardenctl-build_c_node-1,image:half-made" {
		t.Errorf("deleted %s; want the leftovers and the unpublished snapshot, not the published image", got)
	}
	if _, err := os.Stat(mine); !os.IsNotExist(err) {
		t.Errorf("the earlier build's work directory (its private key) is still there: %v", err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("another configuration's work directory was removed: %v", err)
	}
	if len(removed) != 5 || f.gcQuery[0] != "[managed-by:hardenctl hardenctl-builder:c] hardenctl-build_c_" {
		t.Errorf("removed %v, query %v", removed, f.gcQuery)
	}
}

// recConn records what the pipeline runs and uploads on the builder.
type recConn struct {
	scripts []string
	uploads map[string]string
}

func (c *recConn) Run(_ context.Context, cmd string, _, _ io.Writer) (int, error) {
	c.scripts = append(c.scripts, cmd)
	return 0, nil
}
func (c *recConn) Upload(_ context.Context, p string, r io.Reader, _ uint32) error {
	b, err := io.ReadAll(r)
	if c.uploads == nil {
		c.uploads = map[string]string{}
	}
	c.uploads[p] = string(b)
	return err
}
func (c *recConn) Download(context.Context, string, io.Writer) error {
	return errors.New("no download")
}
func (c *recConn) Close() error { return nil }

// A trusted yum mirror is not signature-checked (gpgcheck=0, as the config documents); an
// untrusted one is.
func TestYumTrustedMirrorHasNoGPGCheck(t *testing.T) {
	got := yumRepos([]Mirror{{Name: "lab", Kind: "yum", URL: "http://10.252.0.2/rhel9", Trusted: true}, {Name: "prod", Kind: "yum", URL: "https://mirror/rhel9"}})
	want := "[hardenctl-lab]\nname=lab (hardenctl mirror)\nbaseurl=http://10.252.0.2/rhel9\nenabled=1\ngpgcheck=0\n\n" +
		"[hardenctl-prod]\nname=prod (hardenctl mirror)\nbaseurl=https://mirror/rhel9\nenabled=1\ngpgcheck=1\n\n"
	if got != want {
		t.Errorf("yum repos:\n%s\nwant:\n%s", got, want)
	}
}

// A mirror's gpg_key is uploaded to the builder, installed, and named by the repository
// definition: yum gpgkey=file://..., apt [signed-by=...].
func TestMirrorGPGKeyIsInstalledAndUsed(t *testing.T) {
	key := []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINB...\n-----END PGP PUBLIC KEY BLOCK-----\n")
	c := &recConn{}
	b := &build{conn: c, spec: Spec{Mirrors: []Mirror{
		{Name: "deb", Kind: "apt", URL: "https://mirror/debian", GPGKey: key},
		{Name: "el", Kind: "yum", URL: "https://mirror/rhel9", GPGKey: key},
	}}}
	if err := (&Pipeline{}).configureMirrors(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/tmp/hardenctl-mirror-keys/deb.asc", "/tmp/hardenctl-mirror-keys/el.asc"} {
		if c.uploads[p] != string(key) {
			t.Errorf("upload %s = %q, want the key", p, c.uploads[p])
		}
	}
	script := strings.Join(c.scripts, "\n")
	for _, want := range []string{
		"install -D -m 0644 /tmp/hardenctl-mirror-keys/deb.asc /etc/apt/keyrings/hardenctl-deb.asc\n",
		"install -D -m 0644 /tmp/hardenctl-mirror-keys/el.asc /etc/pki/rpm-gpg/RPM-GPG-KEY-hardenctl-el\n",
		"deb [signed-by=/etc/apt/keyrings/hardenctl-deb.asc] https://mirror/debian bookworm main\n",
		"gpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-hardenctl-el\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the mirrors script lacks %q:\n%s", want, script)
		}
	}
	if strings.Index(script, "install -D") > strings.Index(script, "hardenctl-mirrors.list") {
		t.Error("the keys are installed after the repository definitions that name them")
	}
}
