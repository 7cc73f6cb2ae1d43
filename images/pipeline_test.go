package images_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/images/imagestest"
)

func TestBuildInterruptedCleansUp(t *testing.T) {
	f := imagestest.NewCloud()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &images.Pipeline{Cloud: f, SSH: &imagestest.SSH{NoDialer: true}, Hook: event.Observe(func(e event.Event) {
		if e.Action == "wait for ssh" && e.Phase == event.Start {
			cancel() // Ctrl-C while waiting for the builder's console
		}
	})}
	_, err := p.Build(ctx, images.Spec{Name: "node", Source: images.ImageQuery{Name: "debian-12-base"}, Flavor: "m1.small", Network: "platform",
		BastionGroup: "c-bastion", BootTimeout: time.Minute})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the interruption", err)
	}
	if left := f.Live(); len(left) != 0 {
		t.Errorf("an interrupted build left %v behind", left)
	}
	if len(f.Deleted()) != 3 {
		t.Errorf("deleted %v, want the server, the group and the key pair", f.Deleted())
	}
}

func TestBuildFailedBootCleansUp(t *testing.T) {
	f := imagestest.NewCloud()
	f.FailBoot = true
	p := &images.Pipeline{Cloud: f, SSH: &imagestest.SSH{NoDialer: true}}
	res, err := p.Build(context.Background(), images.Spec{Name: "node", Source: images.ImageQuery{Name: "debian-12-base"}, BastionGroup: "c-bastion"})
	if err == nil || !strings.Contains(err.Error(), "boot builder: server server-") || !strings.Contains(err.Error(), "No valid host") {
		t.Fatalf("err = %v", err)
	}
	if left := f.Live(); len(left) != 0 {
		t.Errorf("a failed build left %v behind", left)
	}
	if len(res.Timings) != 7 || res.Timings[6].Step != "boot builder" {
		t.Errorf("timings = %+v, want seven steps up to the boot", res.Timings)
	}
	if f.BuildGroupRemote() != "bastion-group-id" {
		t.Errorf("the build group takes SSH from remote group %q, want the bastion's group", f.BuildGroupRemote())
	}
}

// Keeping the builder for debugging keeps what is needed to reach it, its private key and
// known_hosts, and says where they are.
func TestBuildKeepsBuilderWhenAsked(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	f := imagestest.NewCloud()
	f.Console = imagestest.HostKeysConsole
	ssh := &imagestest.SSH{}
	p := &images.Pipeline{Cloud: f, SSH: ssh, Harden: imagestest.Harden(40)}
	res, err := p.Build(context.Background(), images.Spec{Name: "node", Config: "c", Source: images.ImageQuery{Name: "debian-12-base"}, BastionGroup: "c-bastion",
		MinScore: 80, KeepBuilderOnFailure: true})
	var gate *images.GateError
	if !errors.As(err, &gate) {
		t.Fatalf("err = %v, want the gate", err)
	}
	if left := f.Live(); len(left) != 3 {
		t.Errorf("with keep_builder_on_failure the builder, key pair and group stay; left: %v", left)
	}
	k := res.Kept
	if k == nil || k.Server == "" || k.Address != "10.252.0.40" || k.KeyPair == "" || k.Group == "" {
		t.Fatalf("Kept = %+v, want the server, its address, key pair and group", k)
	}
	if b, err := os.ReadFile(k.KeyFile); err != nil || !strings.Contains(string(b), "PRIVATE KEY") {
		t.Errorf("the kept builder's private key %q: %v", k.KeyFile, err)
	}
	if b, err := os.ReadFile(k.KnownHosts); err != nil || !strings.HasPrefix(string(b), "10.252.0.40 ssh-ed25519 ") {
		t.Errorf("the kept builder's known_hosts %q: %q, %v", k.KnownHosts, b, err)
	}
	if d, s := ssh.Open(); d != 0 || s != 0 {
		t.Errorf("%d dialers and %d sessions still open: keeping the builder keeps no connection", d, s)
	}
	// The next build's first step (or image gc) removes it all, the key included.
	if _, err := p.GC(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(k.KeyFile)); !os.IsNotExist(err) {
		t.Errorf("gc left the kept builder's work directory: %v", err)
	}
}

// A build that publishes leaves nothing but the image: each step's cleanup removed what that
// step made, the sessions and dialer included, and the work directory with the key.
func TestBuildEachStepCleansWhatItMade(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	f := imagestest.NewCloud()
	f.Console = imagestest.HostKeysConsole
	ssh := &imagestest.SSH{}
	p := &images.Pipeline{Cloud: f, SSH: ssh, Harden: imagestest.Harden(95)}
	res, err := p.Build(context.Background(), images.Spec{Name: "node", Config: "c", Source: images.ImageQuery{Name: "debian-12-base"}, BastionGroup: "c-bastion",
		MinScore: 80, KeepBuilderOnFailure: true})
	if err != nil {
		t.Fatal(err)
	}
	if left := f.Live(); len(left) != 1 || left[0] != "image:"+res.Image.ID {
		t.Errorf("left %v, want only the published image %s", left, res.Image.ID)
	}
	if res.Kept != nil {
		t.Errorf("a build that succeeded kept %+v", res.Kept)
	}
	if d, s := ssh.Open(); d != 0 || s != 0 || ssh.Dials() != 2 {
		t.Errorf("%d dialers and %d sessions open after %d dials; want none open after 2 (wait for ssh, harden)", d, s, ssh.Dials())
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "*")); len(dirs) != 0 {
		t.Errorf("the work directory (key, known_hosts) is still there: %v", dirs)
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
			f := imagestest.NewCloud()
			f.NoBastion = tc.noBastion
			p := &images.Pipeline{Cloud: f, SSH: &imagestest.SSH{NoDialer: true}}
			_, err := p.Build(context.Background(), images.Spec{Name: "node", Config: "c", Source: images.ImageQuery{Name: "debian-12-base"}, BastionGroup: tc.group})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(f.Created()) != 0 {
				t.Errorf("created %v before failing", f.Created())
			}
		})
	}
}

// Retiring looks at this configuration's images only: another configuration's image of the
// same name is never touched, even when the cloud's tag filter lets it through.
func TestRetireTouchesOnlyOwnImages(t *testing.T) {
	f := imagestest.NewCloud()
	now := time.Now()
	mine := func(id string, age time.Duration) images.Image {
		return images.Image{ID: id, Status: "active", CreatedAt: now.Add(-age), Tags: []string{images.TagManagedBy, images.TagConfig + "a", images.TagImage + "node"}}
	}
	f.Images = []images.Image{
		mine("a-new", 1*time.Hour),
		{ID: "b-1", Status: "active", CreatedAt: now.Add(-2 * time.Hour), Tags: []string{images.TagManagedBy, images.TagConfig + "b", images.TagImage + "node"}},
		{ID: "b-2", Status: "active", CreatedAt: now.Add(-3 * time.Hour), Tags: []string{images.TagManagedBy, images.TagImage + "node"}},
		mine("a-old", 4*time.Hour),
	}
	retired, err := images.Retire(context.Background(), &images.Pipeline{Cloud: f}, images.Spec{Name: "node", Config: "a", Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(retired, ",") != "a-old" || strings.Join(f.Deleted(), ",") != "deactivate:a-old" {
		t.Errorf("retired %v (cloud saw %v), want only a-old", retired, f.Deleted())
	}
}

func TestGateNamesFailedRules(t *testing.T) {
	err := images.Gate(images.Spec{Name: "node", MinScore: 90}, &hardening.HostResult{Result: &hardening.Result{Score: 61.5,
		Rules: []hardening.RuleResult{
			{IDRef: "xccdf_org.ssgproject.content_rule_partition_for_tmp", Result: "fail", Severity: "low"},
			{IDRef: "xccdf_org.ssgproject.content_rule_sshd_disable_root_login", Result: "fail", Severity: "high"},
			{IDRef: "xccdf_org.ssgproject.content_rule_ok", Result: "pass", Severity: "high"},
		}}})
	var gate *images.GateError
	if !errors.As(err, &gate) {
		t.Fatalf("err = %v, want a GateError", err)
	}
	want := "image node scored 61.50, below min_score 90.00: nothing was published; failed rules: sshd_disable_root_login (high) partition_for_tmp (low)"
	if err.Error() != want {
		t.Errorf("gate error:\n got %s\nwant %s", err, want)
	}
}

func TestMirrorsAndRegistries(t *testing.T) {
	got := images.AptSources([]images.Mirror{{URL: "http://10.252.0.2:8080/debian", Trusted: true}})
	if got != "deb [trusted=yes] http://10.252.0.2:8080/debian bookworm main\n" {
		t.Errorf("apt sources = %q", got)
	}
	conf, daemon := images.RegistriesConf([]images.Registry{{URL: "registry.internal:5000", BlockPublic: true}})
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
	mine, _ := os.MkdirTemp("", images.BuildPrefix("c"))
	theirs, _ := os.MkdirTemp("", images.BuildPrefix("c-x"))
	os.WriteFile(filepath.Join(mine, "id_ed25519"), []byte("key"), 0o600)
	f := imagestest.NewCloud()
	f.Left = images.Leftovers{Servers: []string{"s1"}, Groups: []string{"g1"}, KeyPairs: []string{images.BuildPrefix("c") + "node-1"}}
	f.Snapshots = []images.Image{
		{ID: "half-made", Properties: map[string]string{images.PropBuildConfig: "c"}},
		{ID: "published", Properties: map[string]string{images.PropBuildConfig: "c"}, Tags: []string{images.TagManagedBy, images.TagConfig + "c"}},
	}
	removed, err := (&images.Pipeline{Cloud: f}).GC(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Deleted(), ","); got != "server:s1,group:g1,keypair:hardenctl-build_c_node-1,image:half-made" {
		t.Errorf("deleted %s; want the leftovers and the unpublished snapshot, not the published image", got)
	}
	if _, err := os.Stat(mine); !os.IsNotExist(err) {
		t.Errorf("the earlier build's work directory (its private key) is still there: %v", err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("another configuration's work directory was removed: %v", err)
	}
	if len(removed) != 5 || f.GCQueries()[0] != "[managed-by:hardenctl hardenctl-builder:c] hardenctl-build_c_" {
		t.Errorf("removed %v, query %v", removed, f.GCQueries())
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
	got := images.YumRepos([]images.Mirror{{Name: "lab", Kind: "yum", URL: "http://10.252.0.2/rhel9", Trusted: true}, {Name: "prod", Kind: "yum", URL: "https://mirror/rhel9"}})
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
	spec := images.Spec{Mirrors: []images.Mirror{
		{Name: "deb", Kind: "apt", URL: "https://mirror/debian", GPGKey: key},
		{Name: "el", Kind: "yum", URL: "https://mirror/rhel9", GPGKey: key},
	}}
	if err := images.ConfigureMirrors(context.Background(), c, spec); err != nil {
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

// The build reports each step as an image event (Address the image, Action the step) and
// the whole build; a hook's Halt stops it before the next step, and the cleanups still run.
func TestBuildHaltsBetweenSteps(t *testing.T) {
	f := imagestest.NewCloud()
	f.Console = imagestest.HostKeysConsole
	ssh := &imagestest.SSH{}
	var events []event.Event
	p := &images.Pipeline{Cloud: f, SSH: ssh, Harden: imagestest.Harden(95), Hook: event.Func(func(e event.Event) event.Action {
		events = append(events, e)
		if e.Action == "boot builder" && e.Phase == event.End {
			return event.Halt
		}
		return event.Continue
	})}
	res, err := p.Build(context.Background(), images.Spec{Name: "node", Config: "c", Source: images.ImageQuery{Name: "debian-12-base"}, BastionGroup: "c-bastion"})
	if !errors.Is(err, event.ErrHalted) {
		t.Fatalf("err = %v, want it to wrap event.ErrHalted", err)
	}
	if !strings.Contains(err.Error(), "stopped before wait for ssh") {
		t.Errorf("err = %v, want it to name the step it stopped before", err)
	}
	if left := f.Live(); len(left) != 0 {
		t.Errorf("a halted build left %v: its cleanups must still run", left)
	}
	if n := len(res.Timings); n != 7 {
		t.Errorf("%d steps ran, want 7 (up to the boot)", n)
	}
	var got []string
	for _, e := range events {
		if e.Kind != event.KindImage || e.Address != "node" {
			t.Errorf("event %+v: want kind image, address node", e)
		}
		got = append(got, fmt.Sprintf("%s %s", e.Action, e.Phase))
	}
	want := "build start,clean earlier builds start,clean earlier builds end,prepare start,prepare end,resolve source start,resolve source end," +
		"bastion group start,bastion group end,key pair start,key pair end,security group start,security group end,boot builder start,boot builder end,build end"
	if strings.Join(got, ",") != want {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, ","), want)
	}
	if last := events[len(events)-1]; last.Status != "halted" || !errors.Is(last.Err, event.ErrHalted) {
		t.Errorf("the build's end = %+v, want status halted and ErrHalted", last)
	}
}
