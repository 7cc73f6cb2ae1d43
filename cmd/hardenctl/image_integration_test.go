package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/remote"
)

// The image tests build on the test bed whose servers are real namespace hosts
// (scripts/devcloud, driver hardenctl_virt), behind the bastion of scripts/testhosts, with
// the package mirror on the private network and the Debian 12 content of prepare.sh.

func testhostsDir() string {
	if d := os.Getenv("TESTHOSTS"); d != "" {
		return d
	}
	return "/tmp/hardenctl-testhosts"
}

// testbedAccess is the ssh, bastion and compliance part of a configuration that reaches the
// test bed's servers: the operator key and known_hosts of scripts/testhosts, the bastion of
// instance 0, the Debian 12 content, reports under reportDir.
func testbedAccess(t testing.TB, reportDir string) string {
	t.Helper()
	th := testhostsDir()
	for _, f := range []string{"keys/id_ed25519", "run/known_hosts", "content/ssg-debian12-ds.xml"} {
		if _, err := os.Stat(filepath.Join(th, f)); err != nil {
			t.Fatalf("the test hosts are not prepared (make testhosts-up): %v", err)
		}
	}
	return fmt.Sprintf(`ssh {
  user           = "root"
  identity_files = [%q]
  known_hosts    = %q
  use_agent      = false
}

bastion {
  allow_from = ["10.251.0.0/16"]
  address    = "10.251.0.2"
  user       = "root"
}

compliance {
  content_dir = %q
  report_dir  = %q
  profile     = "standard"
}
`, filepath.Join(th, "keys/id_ed25519"), filepath.Join(th, "run/known_hosts"), filepath.Join(th, "content"), reportDir)
}

// imageConfig writes a configuration with one image block "node" built from debian-12-base
// on the platform network, with the test bed's mirror, gated at minScore.
func imageConfig(t testing.TB, name string, minScore float64) string {
	t.Helper()
	dir := t.TempDir()
	hcl := fmt.Sprintf(`name = %q

%s
mirror "debian" {
  kind    = "apt"
  url     = "http://10.252.0.2:8080/debian"
  suites  = ["bookworm"]
  trusted = true
}

image "node" {
  source {
    name = "debian-12-base"
  }
  flavor    = "m1.small"
  network   = "platform"
  mirrors   = [mirror.debian]
  profile   = "standard"
  min_score = %g
}
`, name, testbedAccess(t, filepath.Join(dir, "reports")), minScore)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	// Builders take SSH only from the bastion's group: apply creates it.
	if r := runCLI(t, "", nil, "-C", dir, "apply", "-auto-approve", "-cloud", "demo"); r.code != 0 {
		t.Fatalf("apply the bastion's group: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() { runCLI(t, "", nil, "-C", dir, "destroy", "-auto-approve", "-cloud", "demo") })
	return dir
}

// watchBuildGroup reads, through Neutron, the ingress rules of the first build group of image
// "node" that appears while a build runs, until stop is closed.
func watchBuildGroup(t testing.TB, stop <-chan struct{}) <-chan []rules.SecGroupRule {
	out := make(chan []rules.SecGroupRule, 1)
	c := neutron(t)
	go func() {
		defer close(out)
		for {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			pages, err := groups.List(c, groups.ListOpts{}).AllPages(context.Background())
			if err != nil {
				continue
			}
			gs, _ := groups.ExtractGroups(pages)
			for _, g := range gs {
				if !strings.HasPrefix(g.Name, "hardenctl-build_") {
					continue
				}
				var ingress []rules.SecGroupRule
				for _, r := range g.Rules {
					if r.Direction == "ingress" {
						ingress = append(ingress, r)
					}
				}
				if len(ingress) > 0 {
					out <- ingress
					return
				}
			}
		}
	}()
	return out
}

// bastionGroupID is the id of configuration name's bastion group.
func bastionGroupID(t testing.TB, name string) string {
	t.Helper()
	pages, err := groups.List(neutron(t), groups.ListOpts{Name: name + "-bastion"}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(pages)
	if len(gs) != 1 {
		t.Fatalf("bastion groups of %s: %+v", name, gs)
	}
	return gs[0].ID
}

// buildLeftovers lists builder servers, key pairs and security groups of image "node" that
// still exist, read through the APIs.
func buildLeftovers(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	c := nova(t)
	var left []string
	pages, err := servers.List(c, servers.ListOpts{Name: "^hardenctl-build_"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srvs, _ := servers.ExtractServers(pages)
	for _, s := range srvs {
		left = append(left, "server "+s.Name)
	}
	kp, err := keypairs.List(c, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kps, _ := keypairs.ExtractKeyPairs(kp)
	for _, k := range kps {
		if strings.HasPrefix(k.Name, "hardenctl-build_") {
			left = append(left, "key pair "+k.Name)
		}
	}
	gp, err := groups.List(neutron(t), groups.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(gp)
	for _, g := range gs {
		if strings.HasPrefix(g.Name, "hardenctl-build_") {
			left = append(left, "security group "+g.Name)
		}
	}
	return left
}

func TestImageBuildPublishesScoredImage(t *testing.T) {
	integration(t)
	name := fmt.Sprintf("ib%d", time.Now().UnixNano()%1e9)
	dir := imageConfig(t, name, 0)
	ctx := context.Background()
	cloud, err := openstack.New(ctx, openstack.Options{Cloud: "demo"})
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	watched := watchBuildGroup(t, stop)
	r := runCLI(t, "", nil, "-C", dir, "image", "build", "node", "-cloud", "demo")
	close(stop)
	t.Logf("image build:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("image build failed: code %d", r.code)
	}
	// While it ran, the builder took SSH only from the bastion's group (read from Neutron).
	ingress := <-watched
	bastion := bastionGroupID(t, name)
	if len(ingress) != 1 || ingress[0].RemoteGroupID != bastion || ingress[0].RemoteIPPrefix != "" ||
		ingress[0].Protocol != "tcp" || ingress[0].PortRangeMin != 22 || ingress[0].PortRangeMax != 22 {
		t.Errorf("the build group's ingress while building: %+v; want only tcp 22 from the bastion's group %s", ingress, bastion)
	}
	found, err := cloud.FindImages(ctx, images.ImageQuery{Tags: []string{images.TagManagedBy, "hardenctl-config:" + name}})
	if err != nil || len(found) != 1 {
		t.Fatalf("published images: %v %+v", err, found)
	}
	im := found[0]
	t.Cleanup(func() { cloud.DeleteImage(context.Background(), im.ID) })
	score, err := strconv.ParseFloat(im.Properties["hardenctl_score"], 64)
	if err != nil || im.Properties["hardenctl_profile"] != "standard" || im.Properties["hardenctl_datastream_sha"] == "" ||
		im.Properties["hardenctl_source_name"] != "debian-12-base" {
		t.Fatalf("image properties %v (score err %v)", im.Properties, err)
	}
	if left := buildLeftovers(t); len(left) != 0 {
		t.Errorf("a successful build left %v", left)
	}

	// A server booted from the image answers SSH through the bastion, uses only the mirror,
	// and scans at the published score.
	pub, err := os.ReadFile(filepath.Join(testhostsDir(), "keys/id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.CreateKeyPair(ctx, name, strings.TrimSpace(string(pub))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloud.DeleteKeyPair(context.Background(), name) })
	srvID, err := cloud.CreateServer(ctx, images.ServerSpec{Name: name + "-check", ImageID: im.ID, Flavor: "m1.small", Network: "platform", KeyName: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloud.DeleteServer(context.Background(), srvID) })
	srv, err := cloud.WaitServer(ctx, srvID, "ACTIVE")
	if err != nil {
		t.Fatal(err)
	}
	var keys []remote.HostKey
	for i := 0; i < 120 && keys == nil; i++ {
		out, err := cloud.ConsoleOutput(ctx, srvID)
		if err != nil {
			t.Fatal(err)
		}
		if keys, err = remote.ParseConsoleHostKeys(out); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := remote.WriteKnownHosts(known, filepath.Join(testhostsDir(), "run/known_hosts"), remote.KnownHostsLines(srv.Address, keys)); err != nil {
		t.Fatal(err)
	}
	d, err := dialSSH(ctx, remote.Config{User: "root", IdentityFiles: []string{filepath.Join(testhostsDir(), "keys/id_ed25519")},
		KnownHostsFile: known, Bastion: &remote.BastionConfig{Address: "10.251.0.2", User: "root"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var conn hardening.Conn
	for i := 0; i < 60; i++ {
		if conn, err = d.Dial(ctx, hardening.Host{Name: srv.Name, Address: srv.Address}); err == nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		t.Fatalf("SSH to a server of the new image through the bastion: %v", err)
	}
	sh := func(cmd string) string {
		var out bytes.Buffer
		code, err := conn.Run(ctx, cmd, &out, &out)
		if err != nil {
			t.Fatalf("run %q on the server: %v", cmd, err)
		}
		t.Logf("$ %s\n(exit %d)\n%s", cmd, code, out.String())
		return strings.TrimSpace(out.String())
	}
	if got := sh("ls /etc/apt/sources.list.d/"); got != "hardenctl-mirrors.list" {
		t.Errorf("package source files of the image: %q, want only hardenctl-mirrors.list", got)
	}
	if got := sh("cat /etc/apt/sources.list.d/hardenctl-mirrors.list"); got != "deb [trusted=yes] http://10.252.0.2:8080/debian bookworm main" {
		t.Errorf("the image's package sources: %q, want only the test bed's mirror", got)
	}
	if got := sh("grep -v '^#' /etc/apt/sources.list | grep -c . || true"); got != "0" {
		t.Errorf("/etc/apt/sources.list still names %s sources", got)
	}
	public := sh(`echo 'deb http://deb.debian.org/debian bookworm main' > /tmp/public.list
timeout 60 apt-get -o Dir::Etc::sourcelist=/tmp/public.list -o Dir::Etc::sourceparts=/nonexistent -o Acquire::Retries=0 update 2>&1 | tail -4`)
	if !strings.Contains(public, "Failed to fetch") && !strings.Contains(public, "Temporary failure resolving") && !strings.Contains(public, "Could not") {
		t.Errorf("apt-get update from a public repository inside the image did not fail as it must:\n%s", public)
	}
	conn.Close()

	ds, err := hardening.Content{Dir: filepath.Join(testhostsDir(), "content")}.Load()
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profiles.Builtin("standard")
	if err != nil {
		t.Fatal(err)
	}
	res := (&hardening.Scanner{Dialer: d, Content: ds, Profile: prof, Timeout: 10 * time.Minute}).Host(ctx, hardening.Host{Name: srv.Name, Address: srv.Address})
	if !res.Status.Ran() {
		t.Fatalf("scan of a server of the new image: %s %s", res.Status, res.Error)
	}
	t.Logf("image score %.2f, server scan %.2f", score, res.Result.Score)
	if diff := res.Result.Score - score; diff > 0.01 || diff < -0.01 {
		t.Errorf("a server of the image scans at %.2f, the image says %.2f", res.Result.Score, score)
	}
}

func TestImageBuildGateAndInterruptLeaveNothing(t *testing.T) {
	integration(t)
	name := fmt.Sprintf("ig%d", time.Now().UnixNano()%1e9)
	dir := imageConfig(t, name, 100)
	ctx := context.Background()
	cloud, err := openstack.New(ctx, openstack.Options{Cloud: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", nil, "-C", dir, "image", "build", "node", "-cloud", "demo")
	t.Logf("gated build:\n%s%s", r.stdout, r.stderr)
	if r.code == 0 || !strings.Contains(r.stderr, "below min_score 100.00: nothing was published; failed rules:") {
		t.Errorf("a build below its gate: code %d", r.code)
	}
	if found, _ := cloud.FindImages(ctx, images.ImageQuery{Tags: []string{images.TagManagedBy, "hardenctl-config:" + name}}); len(found) != 0 {
		t.Errorf("a gated build published %+v", found)
	}
	if left := buildLeftovers(t); len(left) != 0 {
		t.Errorf("a gated build left %v", left)
	}

	// Interrupted (SIGINT) once the builder runs: everything it made is removed.
	bin := filepath.Join(t.TempDir(), "hardenctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build hardenctl: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-C", dir, "image", "build", "node", "-cloud", "demo")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for !strings.Contains(stderr.String(), "boot builder done") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	t.Logf("interrupted build (%v):\n%s", err, stderr.String())
	if err == nil {
		t.Error("an interrupted build exited 0")
	}
	if left := buildLeftovers(t); len(left) != 0 {
		t.Errorf("an interrupted build left %v", left)
	}
	if found, _ := cloud.FindImages(ctx, images.ImageQuery{Tags: []string{images.TagManagedBy, "hardenctl-config:" + name}}); len(found) != 0 {
		t.Errorf("an interrupted build published %+v", found)
	}

	// Killed (SIGKILL) once the builder runs: nothing is cleaned up then, the lock stays held;
	// force-unlock, then image gc, remove the builder, its group, key pair and private key.
	tmp := t.TempDir()
	cmd = exec.Command(bin, "-C", dir, "image", "build", "node", "-cloud", "demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stderr = syncBuffer{}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Minute)
	for !strings.Contains(stderr.String(), "boot builder done") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	left := buildLeftovers(t)
	keys, _ := filepath.Glob(filepath.Join(tmp, "hardenctl-build_"+name+"_*", "id_ed25519"))
	if len(left) != 3 || len(keys) != 1 {
		t.Fatalf("a killed build left %v and keys %v; want its server, key pair, group and key", left, keys)
	}
	r = runCLI(t, "", nil, "-C", dir, "image", "gc", "-cloud", "demo")
	if r.code == 0 || !strings.Contains(r.stderr, "is locked by") {
		t.Errorf("image gc while the killed build's lease lives: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", nil, "-C", dir, "force-unlock", "-cloud", "demo", "-force"); r.code != 0 || !strings.Contains(r.stdout, "image build node") {
		t.Errorf("force-unlock: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Setenv("TMPDIR", tmp)
	r = runCLI(t, "", nil, "-C", dir, "image", "gc", "-cloud", "demo")
	t.Logf("image gc:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 {
		t.Errorf("image gc: code %d", r.code)
	}
	if left := buildLeftovers(t); len(left) != 0 {
		t.Errorf("after image gc, the killed build's %v are still there", left)
	}
	if keys, _ := filepath.Glob(filepath.Join(tmp, "hardenctl-build_*")); len(keys) != 0 {
		t.Errorf("after image gc, the killed build's work directory is still there: %v", keys)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
