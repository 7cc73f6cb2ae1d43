package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	glance "github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/rollout"
)

// The rolling upgrade on the test bed's real Nova, Glance and hosts (issue 10). One fleet of
// six real servers (namespace hosts on the platform network, reached through the bastion) is
// reused by the subtests, in order:
//
//   - onto B: image A and image B are this configuration's managed images of image block
//     "node" (registered here, not built: each is debian-12-base's root filesystem with sshd
//     also listening on port 2222, tagged as image build tags its images, which is all the
//     product's lookup asks for; building two images would cost minutes and prove the image
//     pipeline, which its own tests do). upgrade with
//     max_unavailable 2 and canary 1 moves all six onto B (the newest managed image): same
//     ids and addresses, each through the ssh (new host key), tcp 22 and 2222, and score
//     gates; a second upgrade started meanwhile is refused naming the holder; -pause from
//     another process stops it after the servers in flight, -resume continues; -audit shows
//     a peak of at most 2.
//   - failing gate: -image debian-12-base, whose servers do not listen on 2222: the canary
//     fails, the fleet is rolled back onto B within the budget (exit 4).
//   - on_failure = pause: the same failure pauses the rollout; it waits until -abort (exit
//     5); a plain upgrade then puts the canary back onto B.
//   - kills: upgrade onto A (-image NAME-a) is SIGKILLed at random points
//     (HARDENCTL_UPGRADE_KILLS, default 3); after each, force-unlock -fleet (and force-unlock,
//     for a kill while it held the configuration's lock to start) and a rerun of the same
//     command converge: all six on the target, healthy by their marks, same ids and
//     addresses, and -audit shows the budget was never exceeded. The target alternates, so
//     every point starts from a fleet that is not on it.
func TestUpgradeRollout(t *testing.T) {
	integration(t)
	b := newUpgradeBed(t)

	t.Run("onto B", func(t *testing.T) {
		b.writeConfig(t, upgradeHealth{tcp: "[22, 2222]", minScore: "1", onFailure: "rollback", timeout: "5m"})
		run := b.start(t, "upgrade", "web", "-json", "-poll", "1s")
		canaryDone := run.waitEvent(t, 10*time.Minute, func(e jsonEvent) bool {
			return e.Kind == "batch" && e.Address == "canary" && e.Phase == "end"
		})
		if !canaryDone || run.exited() {
			t.Fatalf("the canary batch never ended, or the rollout stopped:\n%s", run.output())
		}
		// A second upgrade of the fleet at once: refused, naming the holder.
		r := b.cli(t, "upgrade", "web")
		if r.code != 1 || !strings.Contains(r.stderr, "is locked by") || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", run.cmd.Process.Pid)) {
			t.Errorf("second upgrade: exit %d, want 1 naming the holder (pid %d):\n%s", r.code, run.cmd.Process.Pid, r.stderr)
		}
		// -pause from another process: obeyed after the servers in flight.
		r = b.cli(t, "upgrade", "web", "-pause", "-wait", "8m")
		if r.code != 0 || !strings.Contains(r.stdout, "Obeyed") {
			t.Fatalf("pause: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if !run.waitEvent(t, time.Minute, func(e jsonEvent) bool { return e.Kind == "rollout" && e.Action == "pause" && e.Status == "paused" }) {
			t.Fatalf("no paused event:\n%s", run.output())
		}
		// Paused: nothing is rebuilt, nothing is in flight.
		before := b.rebuilds(t)
		time.Sleep(8 * time.Second)
		for _, s := range b.fleet(t) {
			if s.Status != "ACTIVE" {
				t.Errorf("paused, but %s is %s", s.Name, s.Status)
			}
		}
		if after := b.rebuilds(t); after != before {
			t.Errorf("paused, but Nova recorded %d more rebuild(s)", after-before)
		}
		if r := b.cli(t, "upgrade", "web", "-resume", "-wait", "2m"); r.code != 0 {
			t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if code := run.wait(t, 15*time.Minute); code != 0 {
			t.Fatalf("upgrade: exit %d\n%s", code, run.output())
		}
		b.checkOn(t, b.imageB)
		gates := map[string]map[string]bool{}
		for _, e := range run.events() {
			if e.Kind == "server" && e.Phase == "end" && strings.HasPrefix(e.Action, "gate ") && e.Error == "" {
				if gates[e.Address] == nil {
					gates[e.Address] = map[string]bool{}
				}
				gates[e.Address][e.Action] = true
			}
		}
		for _, s := range b.servers {
			for _, g := range []string{"gate ssh", "gate tcp 22", "gate tcp 2222", "gate score"} {
				if !gates[s.Name][g] {
					t.Errorf("%s did not pass %s", s.Name, g)
				}
			}
		}
		b.checkAudit(t)
	})

	t.Run("failing gate rolls back", func(t *testing.T) {
		b.writeConfig(t, upgradeHealth{tcp: "[22, 2222]", onFailure: "rollback", timeout: "40s"})
		r := b.cli(t, "upgrade", "web", "-image", "debian-12-base", "-poll", "1s")
		t.Logf("upgrade onto debian-12-base:\n%s%s", r.stdout, lastLines(r.stderr, 15))
		if r.code != exitUpgradeRolledBack {
			t.Fatalf("exit %d, want %d (rolled back)", r.code, exitUpgradeRolledBack)
		}
		if !strings.Contains(r.stderr, "tcp 2222") {
			t.Errorf("the failure does not name the tcp 2222 gate")
		}
		b.checkOn(t, b.imageB)
		b.checkAudit(t)
	})

	t.Run("on_failure pause waits for abort", func(t *testing.T) {
		b.writeConfig(t, upgradeHealth{tcp: "[22, 2222]", onFailure: "pause", timeout: "40s"})
		run := b.start(t, "upgrade", "web", "-image", "debian-12-base", "-json", "-poll", "1s")
		if !run.waitEvent(t, 5*time.Minute, func(e jsonEvent) bool { return e.Kind == "rollout" && e.Action == "pause" && e.Status == "paused" }) {
			t.Fatalf("no pause after the canary failed:\n%s", run.output())
		}
		time.Sleep(3 * time.Second)
		if run.exited() {
			t.Fatalf("the paused rollout exited:\n%s", run.output())
		}
		if r := b.cli(t, "upgrade", "web", "-abort", "-wait", "2m"); r.code != 0 {
			t.Fatalf("abort: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if code := run.wait(t, 2*time.Minute); code != exitUpgradeAborted {
			t.Errorf("aborted rollout: exit %d, want %d\n%s", code, exitUpgradeAborted, run.output())
		}
		// The canary is left on debian-12-base; a plain upgrade puts it back onto B. (With
		// on_failure = "rollback" that upgrade would refuse to start: a rollback would need
		// debian-12-base protected in Glance, and it is the admin's image, not the project's.)
		b.writeConfig(t, upgradeHealth{tcp: "[22, 2222]", onFailure: "pause", timeout: "2m"})
		if r := b.cli(t, "upgrade", "web", "-poll", "1s"); r.code != 0 {
			t.Fatalf("upgrade back onto B: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		b.checkOn(t, b.imageB)
	})

	t.Run("kills converge", func(t *testing.T) {
		b.writeConfig(t, upgradeHealth{tcp: "[22]", onFailure: "rollback", timeout: "2m"})
		points := 3
		if n, _ := strconv.Atoi(os.Getenv("HARDENCTL_UPGRADE_KILLS")); n > 0 {
			points = n
		}
		var table []string
		target := b.imageA // the image the fleet is not on (all on B after the subtests above)
		if b.fleet(t)[0].ImageID == b.imageA {
			target = b.imageB
		}
		for i := range points {
			args := []string{"upgrade", "web", "-poll", "1s", "-image", b.name + "-a"}
			if target == b.imageB {
				args = []string{"upgrade", "web", "-poll", "1s"}
			}
			// A rollout of the six without the scan takes 20-30 s here: the kill comes anywhere in it.
			delay := time.Duration(1000+rand.IntN(19000)) * time.Millisecond
			run := b.start(t, args...)
			time.Sleep(delay)
			if run.exited() {
				if run.code != 0 {
					t.Fatalf("point %d: the upgrade ended before its kill with exit %d:\n%s", i+1, run.code, run.output())
				}
				table = append(table, fmt.Sprintf("%2d  kill after %5.1fs  finished first", i+1, delay.Seconds()))
			} else {
				run.cmd.Process.Signal(syscall.SIGKILL)
				run.wait(t, time.Minute)
				if r := b.cli(t, "force-unlock", "-fleet", "web", "-force"); r.code != 0 {
					t.Fatalf("force-unlock -fleet web: %s", r.stderr)
				}
				// A kill in the start's window (the configuration's lock taken, the fleet's
				// being taken) leaves the configuration's lock held by the dead run too: the
				// rerun would be refused naming it, and its operator breaks it.
				cfgLock := ""
				r := b.cli(t, "force-unlock", "-force")
				if r.code != 0 {
					t.Fatalf("force-unlock: %s", r.stderr)
				}
				if strings.Contains(r.stdout, "Removed the claim") {
					cfgLock = ", the configuration's lock broken too"
				}
				start := time.Now()
				r = b.cli(t, args...)
				if r.code != 0 {
					t.Fatalf("point %d: rerun after the kill: exit %d\n%s%s", i+1, r.code, r.stdout, lastLines(r.stderr, 20))
				}
				resumed := strings.Contains(r.stdout, "resumed from the servers' marks")
				table = append(table, fmt.Sprintf("%2d  kill after %5.1fs  rerun converged in %5.1fs (resumed from marks: %v%s)", i+1, delay.Seconds(), time.Since(start).Seconds(), resumed, cfgLock))
			}
			b.checkOn(t, target)
			b.checkAudit(t)
			if target == b.imageA {
				target = b.imageB
			} else {
				target = b.imageA
			}
		}
		t.Logf("kill points:\n%s", strings.Join(table, "\n"))
	})
}

// upgradeBed is the fleet the subtests share.
type upgradeBed struct {
	name, dir, bin string
	imageA, imageB string
	cloud          *openstack.Client
	servers        []rollout.Server // as booted: ids and addresses must not change
}

func newUpgradeBed(t *testing.T) *upgradeBed {
	t.Helper()
	th := testhostsDir()
	pub, err := os.ReadFile(filepath.Join(th, "keys/id_ed25519.pub"))
	if err != nil {
		t.Fatalf("the test hosts are not prepared (make testhosts-up): %v", err)
	}
	ctx := context.Background()
	b := &upgradeBed{name: fmt.Sprintf("up%d", time.Now().UnixNano()%1e8), dir: t.TempDir()}
	b.bin = filepath.Join(t.TempDir(), "hardenctl")
	if out, err := exec.Command("go", "build", "-o", b.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build hardenctl: %v\n%s", err, out)
	}
	if b.cloud, err = openstack.New(ctx, openstack.Options{Cloud: "demo"}); err != nil {
		t.Fatal(err)
	}
	if err := b.cloud.CreateKeyPair(ctx, b.name, strings.TrimSpace(string(pub))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.cloud.DeleteKeyPair(context.Background(), b.name) })
	gc := glanceClient(t)
	tags := []string{"managed-by:hardenctl", "hardenctl-config:" + b.name, "hardenctl-image:node"}
	start := time.Now()
	// Both listen on 2222 too (the health block's ports are the service's: the servers not
	// yet rebuilt are probed on them as well); debian-12-base does not.
	port2222 := map[string]string{"etc/ssh/sshd_config.d/hardenctl-upgrade-test.conf": "Port 22\nPort 2222\n"}
	b.imageA = copyImage(t, gc, "debian-12-base", b.name+"-a", tags, port2222)
	b.writeConfig(t, upgradeHealth{tcp: "[22]", onFailure: "rollback", timeout: "5m"})
	t.Cleanup(func() {
		b.cli(t, "force-unlock", "-fleet", "web", "-force")
		if r := b.cli(t, "destroy", "-auto-approve"); r.code != 0 {
			t.Errorf("destroy: %s%s", r.stdout, r.stderr)
		}
	})
	if r := b.cli(t, "apply", "-auto-approve", "-server-concurrency", "6"); r.code != 0 {
		t.Fatalf("apply: %s%s", r.stdout, r.stderr)
	}
	b.imageB = copyImage(t, gc, "debian-12-base", b.name+"-b", tags, port2222)
	b.servers = b.fleet(t)
	if len(b.servers) != 6 {
		t.Fatalf("the fleet has %d servers, want 6", len(b.servers))
	}
	for _, s := range b.servers {
		if s.ImageID != b.imageA || s.Address == "" {
			t.Fatalf("%s: image %s (want A %s), address %q", s.Name, s.ImageID, b.imageA, s.Address)
		}
	}
	t.Logf("fleet of 6 on image A and image B registered in %s", time.Since(start).Round(time.Second))
	return b
}

type upgradeHealth struct {
	tcp, minScore, onFailure, timeout string
	maxUnavailable                    int // default 2
}

func (b *upgradeBed) writeConfig(t *testing.T, h upgradeHealth) {
	t.Helper()
	if h.maxUnavailable == 0 {
		h.maxUnavailable = 2
	}
	score := ""
	if h.minScore != "" {
		score = "      min_score = " + h.minScore + "\n"
	}
	hcl := fmt.Sprintf(`name = %q

%s
zone "web" {}

image "node" {
  source {
    name = "debian-12-base"
  }
  flavor  = "m1.small"
  network = "platform"
  profile = "standard"
}

fleet "web" {
  image    = image.node
  zone     = zone.web
  flavor   = "m1.small"
  count    = 6
  network  = "platform"
  key_pair = %q

  upgrade {
    max_unavailable = %d
    canary          = 1
    on_failure      = %q

    health {
      ssh     = true
      tcp     = %s
%s      timeout = %q
    }
  }
}
`, b.name, testbedAccess(t, filepath.Join(b.dir, "reports")), b.name, h.maxUnavailable, h.onFailure, h.tcp, score, h.timeout)
	if err := os.WriteFile(filepath.Join(b.dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (b *upgradeBed) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLI(t, "", nil, append([]string{"-C", b.dir}, append(args, "-cloud", "demo")...)...)
}

// fleet lists the fleet as the rollout sees it.
func (b *upgradeBed) fleet(t *testing.T) []rollout.Server {
	t.Helper()
	s, err := b.cloud.ListFleet(context.Background(), plan.FleetTags(b.name, "web"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rebuilds counts the rebuild actions Nova recorded on the fleet.
func (b *upgradeBed) rebuilds(t *testing.T) int {
	t.Helper()
	n := 0
	for _, s := range b.fleet(t) {
		acts, err := b.cloud.InstanceActions(context.Background(), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range acts {
			if a.Action == "rebuild" {
				n++
			}
		}
	}
	return n
}

// checkOn: every server on image, ACTIVE, healthy by its marks, with its id and address.
func (b *upgradeBed) checkOn(t *testing.T, image string) {
	t.Helper()
	now := map[string]rollout.Server{}
	for _, s := range b.fleet(t) {
		now[s.ID] = s
	}
	if len(now) != len(b.servers) {
		t.Errorf("the fleet has %d servers, had %d", len(now), len(b.servers))
	}
	for _, s0 := range b.servers {
		s, ok := now[s0.ID]
		if !ok {
			t.Errorf("server %s (%s) is gone", s0.Name, s0.ID)
			continue
		}
		m, _ := rollout.ReadMarks(s.Metadata)
		if s.ImageID != image || s.Status != "ACTIVE" || s.Address != s0.Address || s.Name != s0.Name ||
			(m.To == image && m.Phase != rollout.PhaseHealthy) || (m.From == image && m.Phase != rollout.PhaseRolledBack && m.To != image) {
			t.Errorf("%s: image %s status %s address %s marks %+v; want image %s, ACTIVE, address %s, healthy", s.Name, s.ImageID, s.Status, s.Address, m, image, s0.Address)
		}
	}
}

// checkAudit: by Nova's records, no rollout of the fleet ever had more than 2 down at once.
func (b *upgradeBed) checkAudit(t *testing.T) {
	t.Helper()
	r := b.cli(t, "upgrade", "web", "-audit", "-json", "-audit-gap", "1h")
	var a struct {
		Budget   int `json:"budget"`
		Rollouts []struct {
			Peak  int   `json:"Peak"`
			Downs []any `json:"Downs"`
		} `json:"rollouts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("audit -json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	if r.code != 0 || a.Budget != 2 || len(a.Rollouts) == 0 {
		t.Errorf("audit: exit %d, budget %d, %d rollouts\n%s", r.code, a.Budget, len(a.Rollouts), r.stdout)
	}
	for _, ro := range a.Rollouts {
		if ro.Peak > 2 {
			t.Errorf("audit: a peak of %d down at once, over the budget of 2", ro.Peak)
		}
	}
	text := b.cli(t, "upgrade", "web", "-audit", "-audit-gap", "1h")
	t.Logf("audit:\n%s", lastLines(text.stdout, 8))
}

// upgradeProc is an upgrade run as a subprocess.
type upgradeProc = cliProc

func (b *upgradeBed) start(t *testing.T, args ...string) *upgradeProc {
	t.Helper()
	return startCLI(t, b.bin, b.dir, args...)
}

type jsonEvent struct {
	Kind, Address, Action, Phase, Status, Error, Message string
}

func (p *cliProc) events() []jsonEvent {
	var out []jsonEvent
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e jsonEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind != "" {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits until an event matches (or the process exits, or d passes).
func (p *cliProc) waitEvent(t *testing.T, d time.Duration, match func(jsonEvent) bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, e := range p.events() {
			if match(e) {
				return true
			}
		}
		if p.exited() {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
	return false
}

func glanceClient(t *testing.T) *gophercloud.ServiceClient {
	t.Helper()
	ao, eo, _, err := clouds.Parse(clouds.WithCloudName("demo"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := gos.AuthenticatedClient(context.Background(), ao)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gos.NewImageV2(pc, eo)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// copyImage registers a copy of the image named src as name with tags: its data as is, or,
// with extra files, the root filesystem archive re-written (uncompressed tar, which the test
// bed's driver also boots) with those files added. The image is deleted when the test ends.
func copyImage(t *testing.T, c *gophercloud.ServiceClient, src, name string, tags []string, extra map[string]string) string {
	t.Helper()
	ctx := context.Background()
	pages, err := glance.List(c, glance.ListOpts{Name: src, SortKey: "created_at", SortDir: "desc"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found, _ := glance.ExtractImages(pages)
	if len(found) == 0 {
		t.Fatalf("no image %s on the test bed (make platform-up)", src)
	}
	priv := glance.ImageVisibilityPrivate
	im, err := glance.Create(ctx, c, glance.CreateOpts{Name: name, Tags: tags, Visibility: &priv,
		DiskFormat: found[0].DiskFormat, ContainerFormat: found[0].ContainerFormat}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		// A rollout that was killed may have left it protected.
		glance.Update(ctx, c, im.ID, glance.UpdateOpts{glance.ReplaceImageProtected{NewProtected: false}})
		if err := glance.Delete(ctx, c, im.ID).ExtractErr(); err != nil {
			t.Errorf("delete image %s: %v", name, err)
		}
	})
	data, err := imagedata.Download(ctx, c, found[0].ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	var body io.Reader = data
	if extra != nil {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(retar(data, pw, extra)) }()
		body = pr
	}
	if err := imagedata.Upload(ctx, c, im.ID, body).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	for range 60 {
		got, err := glance.Get(ctx, c, im.ID).Extract()
		if err == nil && got.Status == glance.ImageStatusActive {
			return im.ID
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("image %s did not become active", name)
	return ""
}

// retar copies the gzipped tar in to an uncompressed tar on out with extra files added.
func retar(in io.Reader, out io.Writer, extra map[string]string) error {
	zr, err := gzip.NewReader(in)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	tw := tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if _, replaced := extra[strings.TrimPrefix(h.Name, "./")]; replaced {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	for p, content := range extra {
		if err := tw.WriteHeader(&tar.Header{Name: "./" + p, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, content); err != nil {
			return err
		}
	}
	return tw.Close()
}
