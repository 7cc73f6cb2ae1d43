package openstack

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	glance "github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/hardenctl/hardenctl/images"
)

// The test bed's real servers (scripts/devcloud/py/hardenctl_virt.py): a server booted from
// debian-12-base on network `platform` is a namespace host on the private bridge of
// scripts/testhosts, reachable with SSH through the bastion (hosts.sh instance 0).
const (
	realBastion = "10.251.0.2"
	realMirror  = "http://10.252.0.2:8080/debian"
)

func testhostsDir() string {
	if d := os.Getenv("TESTHOSTS"); d != "" {
		return d
	}
	return "/tmp/hardenctl-testhosts"
}

func devcloudDir() string {
	if d := os.Getenv("OSDEV"); d != "" {
		return strings.TrimSuffix(d, "/")
	}
	return "/tmp/hardenctl-devcloud"
}

// consoleHostKeys returns the public key lines of the last cloud-init style host key block
// of a console log, and the fingerprint lines ("256 SHA256:... root@name (ED25519)").
func consoleHostKeys(console string) (keys, fingerprints []string) {
	block := func(begin, end string) []string {
		i := strings.LastIndex(console, begin)
		if i < 0 {
			return nil
		}
		rest := console[i+len(begin):]
		j := strings.Index(rest, end)
		if j < 0 {
			return nil
		}
		var out []string
		for _, l := range strings.Split(rest[:j], "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	return block("-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"),
		block("-----BEGIN SSH HOST KEY FINGERPRINTS-----", "-----END SSH HOST KEY FINGERPRINTS-----")
}

// sha256Fingerprint of an authorized_keys style line, as ssh-keygen -l prints it.
func sha256Fingerprint(t *testing.T, keyLine string) string {
	f := strings.Fields(keyLine)
	if len(f) < 2 {
		t.Fatalf("bad key line %q", keyLine)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatalf("key line %q: %v", keyLine, err)
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// realSSH runs ssh through the bastion, verifying the bastion against hosts.sh's known_hosts
// and the server against the key read from its console (no trust on first use).
type realSSH struct {
	t      *testing.T
	config string
}

func newRealSSH(t *testing.T, addr, hostKeyLine string) *realSSH {
	dir := t.TempDir()
	bastionKnown, err := os.ReadFile(filepath.Join(testhostsDir(), "run", "known_hosts"))
	if err != nil {
		t.Fatalf("the bastion's known_hosts (scripts/testhosts/hosts.sh, instance 0): %v", err)
	}
	var known strings.Builder
	for _, l := range strings.Split(string(bastionKnown), "\n") {
		if strings.HasPrefix(l, realBastion+" ") {
			known.WriteString(l + "\n")
		}
	}
	f := strings.Fields(hostKeyLine)
	fmt.Fprintf(&known, "%s %s %s\n", addr, f[0], f[1])
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ssh_config")
	key := filepath.Join(testhostsDir(), "keys", "id_ed25519")
	conf := fmt.Sprintf(`Host *
  User root
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 20
  LogLevel ERROR
`, key, kh)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return &realSSH{t: t, config: cfg}
}

func (s *realSSH) run(ctx context.Context, addr, cmd string) (string, error) {
	c := exec.CommandContext(ctx, "/usr/bin/ssh", "-F", s.config, "-J", "root@"+realBastion, "root@"+addr, cmd)
	out, err := c.CombinedOutput()
	return string(out), err
}

// waitSSH retries until the server answers SSH (sshd may still be starting).
func (s *realSSH) waitSSH(ctx context.Context, addr string) (string, error) {
	for {
		out, err := s.run(ctx, addr, "hostname")
		if err == nil {
			return strings.TrimSpace(out), nil
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("ssh %s: %v: %s", addr, err, out)
		case <-time.After(time.Second):
		}
	}
}

// waitConsoleKeys polls the console until the host key block is there.
func waitConsoleKeys(ctx context.Context, t *testing.T, c *Client, id string) (keyLine, console string) {
	for {
		out, err := c.ConsoleOutput(ctx, id)
		if err == nil {
			keys, fps := consoleHostKeys(out)
			for _, k := range keys {
				if strings.HasPrefix(k, "ssh-ed25519 ") {
					fp := sha256Fingerprint(t, k)
					found := false
					for _, l := range fps {
						found = found || (strings.Contains(l, " "+fp+" ") && strings.HasSuffix(l, "(ED25519)"))
					}
					if !found {
						t.Fatalf("console: key %q has no matching fingerprint line in %q", k, fps)
					}
					return k, out
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no SSH host key block in the console of %s: %v\n%s", id, err, out)
		case <-time.After(time.Second):
		}
	}
}

func ensurePlatform(ctx context.Context, t *testing.T, c *Client) images.Image {
	find := func() []images.Image {
		ims, err := c.FindImages(ctx, images.ImageQuery{Name: "debian-12-base", Properties: map[string]string{"os_distro": "debian"}})
		if err != nil {
			t.Fatal(err)
		}
		return ims
	}
	ims := find()
	_, netErr := c.networkID(ctx, "platform")
	if len(ims) == 0 || netErr != nil {
		// idempotent; needs root and scripts/testhosts/prepare.sh (make test does both)
		out, err := exec.CommandContext(ctx, "bash", "../../scripts/devcloud/platform.sh").CombinedOutput()
		if err != nil {
			t.Fatalf("scripts/devcloud/platform.sh: %v\n%s", err, out)
		}
		if ims = find(); len(ims) == 0 {
			t.Fatal("no image debian-12-base after platform.sh")
		}
	}
	return ims[0]
}

// TestRealServers boots a server from debian-12-base and checks it is a real host: host keys
// on the console, SSH through the bastion verified against them, the mirror works and the
// public archive does not; rebuild (new host key, same address, disk wiped), stop, snapshot,
// a server from the snapshot, start (disk kept), delete (namespace and state gone).
func TestRealServers(t *testing.T) {
	c := integrationClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	id := fmt.Sprintf("rs%d", time.Now().UnixNano()%1e9)
	base := ensurePlatform(ctx, t, c)

	pub, err := os.ReadFile(filepath.Join(testhostsDir(), "keys", "id_ed25519.pub"))
	if err != nil {
		t.Fatalf("operator key (scripts/testhosts/prepare.sh): %v", err)
	}
	if err := c.CreateKeyPair(ctx, id, strings.TrimSpace(string(pub))); err != nil {
		t.Fatal(err)
	}
	defer c.DeleteKeyPair(context.Background(), id)

	t0 := time.Now()
	sid, err := c.CreateServer(ctx, images.ServerSpec{Name: id, ImageID: base.ID, Flavor: "m1.small", Network: "platform", KeyName: id})
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	defer func() {
		if !deleted {
			c.DeleteServer(context.Background(), sid)
		}
	}()
	srv, err := c.WaitServer(ctx, sid, "ACTIVE")
	if err != nil {
		t.Fatal(err)
	}
	tActive := time.Since(t0)
	if !strings.HasPrefix(srv.Address, "10.252.") {
		t.Fatalf("server address %q is not on the platform network", srv.Address)
	}
	key1, _ := waitConsoleKeys(ctx, t, c, sid)
	ssh := newRealSSH(t, srv.Address, key1)
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	host, err := ssh.waitSSH(sctx, srv.Address)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	tSSH := time.Since(t0)
	if host != id {
		t.Errorf("hostname %q, want the server name %q", host, id)
	}
	out, err := ssh.run(ctx, srv.Address, "cat /etc/debian_version")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "12.") {
		t.Errorf("debian_version: %q %v", out, err)
	}
	t.Logf("boot: ACTIVE after %v, SSH-able after %v (%s at %s)", tActive.Round(time.Millisecond), tSSH.Round(time.Millisecond), sid, srv.Address)

	// the mirror on the bridge works; the public archive is out of reach
	out, err = ssh.run(ctx, srv.Address, fmt.Sprintf(`set -e
echo 'deb [trusted=yes] %s bookworm main' > /etc/apt/sources.list
apt-get -q update 2>&1
DEBIAN_FRONTEND=noninteractive apt-get -q install -y hello >/dev/null 2>&1
hello`, realMirror))
	if err != nil || !strings.Contains(out, "Hello, world!") {
		t.Errorf("apt-get update + install from the mirror: %v\n%s", err, out)
	}
	out, _ = ssh.run(ctx, srv.Address, `echo 'deb http://deb.debian.org/debian bookworm main' > /etc/apt/sources.list
timeout 120 apt-get -q update 2>&1; echo "route: $(ip route get 151.101.2.132 2>&1)"`)
	if !strings.Contains(out, "Failed to fetch") || !strings.Contains(out, "Network is unreachable") {
		t.Errorf("apt-get update against deb.debian.org should fail, with no route out:\n%s", out)
	}

	// rebuild: root disk wiped (hello gone), new host key, same address
	t1 := time.Now()
	// RebuildServer waits on the rebuild's instance action (events shown to this
	// non-admin user from microversion 2.51 on), then for ACTIVE.
	if err := c.RebuildServer(ctx, sid, base.ID); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if max := c.MaxComputeMicroversion(); max != "2.93" {
		t.Errorf("the test bed's Nova (Zed) says its newest microversion is %q, want 2.93", max)
	}
	srv2, err := c.WaitServer(ctx, sid, "ACTIVE")
	if err != nil {
		t.Fatal(err)
	}
	key2, _ := waitConsoleKeys(ctx, t, c, sid)
	if key2 == key1 {
		t.Errorf("rebuild kept the host key %q", key1)
	}
	if srv2.Address != srv.Address {
		t.Errorf("rebuild moved the server from %s to %s", srv.Address, srv2.Address)
	}
	ssh2 := newRealSSH(t, srv2.Address, key2)
	sctx, scancel = context.WithTimeout(ctx, 2*time.Minute)
	_, err = ssh2.waitSSH(sctx, srv2.Address)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	tRebuild := time.Since(t1)
	if _, err := ssh.run(ctx, srv.Address, "true"); err == nil {
		t.Errorf("the old host key still verifies after rebuild")
	}
	if out, err := ssh2.run(ctx, srv2.Address, "test ! -e /usr/bin/hello && echo wiped"); err != nil || !strings.Contains(out, "wiped") {
		t.Errorf("rebuild did not wipe the root disk: %v %s", err, out)
	}
	// what the image pipeline does before its snapshot: host keys out, marker in, power off
	if _, err := ssh2.run(ctx, srv2.Address, "rm -f /etc/ssh/ssh_host_* && echo snapshot-marker > /root/marker"); err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild: SSH-able with the new key after %v", tRebuild.Round(time.Millisecond))
	t3 := time.Now()
	if err := c.StopServer(ctx, sid); err != nil {
		t.Fatal(err)
	}
	tStop := time.Since(t3)
	if _, err := ssh2.run(ctx, srv2.Address, "true"); err == nil {
		t.Errorf("stopped server %s still answers SSH", srv2.Address)
	}

	// snapshot (of the stopped server): an active image whose data is the host's root
	t2 := time.Now()
	imgID, err := c.Snapshot(ctx, sid, id+"-snap", map[string]string{"hardenctl_test": id})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteImage(context.Background(), imgID)
	if _, err := c.WaitImage(ctx, imgID); err != nil {
		t.Fatal(err)
	}
	tSnap := time.Since(t2)
	im, err := glance.Get(ctx, c.image, imgID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if im.SizeBytes < 20<<20 {
		t.Errorf("snapshot image is %d bytes: want a root filesystem archive", im.SizeBytes)
	}
	t.Logf("stop: %v; snapshot: image %s active after %v, %d MB", tStop.Round(time.Millisecond), imgID, tSnap.Round(time.Millisecond), im.SizeBytes>>20)

	// a server booted from the snapshot has the marker and fresh host keys
	sid2, err := c.CreateServer(ctx, images.ServerSpec{Name: id + "-b", ImageID: imgID, Flavor: "m1.small", Network: "platform", KeyName: id})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteServer(context.Background(), sid2)
	srv3, err := c.WaitServer(ctx, sid2, "ACTIVE")
	if err != nil {
		t.Fatal(err)
	}
	key3, _ := waitConsoleKeys(ctx, t, c, sid2)
	ssh3 := newRealSSH(t, srv3.Address, key3)
	sctx, scancel = context.WithTimeout(ctx, 2*time.Minute)
	_, err = ssh3.waitSSH(sctx, srv3.Address)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := ssh3.run(ctx, srv3.Address, "cat /root/marker; hostname"); err != nil || out != "snapshot-marker\n"+id+"-b\n" {
		t.Errorf("server from the snapshot: %q %v", out, err)
	}
	if err := c.DeleteServer(ctx, sid2); err != nil {
		t.Error(err)
	}

	// power on: same disk (marker), new host key (the old one was removed), same address
	t4 := time.Now()
	if err := servers.Start(ctx, c.compute, sid).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitServer(ctx, sid, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	key4, _ := waitConsoleKeys(ctx, t, c, sid)
	ssh4 := newRealSSH(t, srv2.Address, key4)
	sctx, scancel = context.WithTimeout(ctx, 2*time.Minute)
	_, err = ssh4.waitSSH(sctx, srv2.Address)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start: SSH-able after %v", time.Since(t4).Round(time.Millisecond))
	if out, err := ssh4.run(ctx, srv2.Address, "cat /root/marker"); err != nil || out != "snapshot-marker\n" {
		t.Errorf("power off/on lost the disk: %q %v", out, err)
	}

	// delete: the host, its namespace and its state are gone
	if err := c.DeleteServer(ctx, sid); err != nil {
		t.Fatal(err)
	}
	deleted = true
	if out, err := exec.Command("ip", "netns", "list").Output(); err != nil {
		t.Errorf("ip netns list: %v", err)
	} else if strings.Contains(string(out), sid) {
		t.Errorf("namespace of deleted server %s still there:\n%s", sid, out)
	}
	if _, err := os.Stat(filepath.Join(devcloudDir(), "servers", sid)); !os.IsNotExist(err) {
		t.Errorf("state of deleted server %s still there (%v)", sid, err)
	}
	if _, err := ssh4.run(ctx, srv2.Address, "true"); err == nil {
		t.Errorf("deleted server %s still answers SSH", srv2.Address)
	}
}
