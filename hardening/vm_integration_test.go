package hardening

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/internal/shell"
	"github.com/hardenctl/hardenctl/profiles"
)

// What a namespace host cannot show needs a kernel of its own: the kernel refuses audit rule
// changes from a non-init pid namespace. A VM host (hosts.sh vm-up: QEMU/TCG on the same
// private network, behind the same bastion) runs systemd and auditd like a real server.

// vmRun runs cmd on the host as root (through sudo) over a fresh connection and returns its
// output; a non-zero exit fails the test.
func vmRun(t *testing.T, d Dialer, h Host, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := d.Dial(ctx, h)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Name, err)
	}
	defer c.Close()
	var out bytes.Buffer
	exit, err := c.Run(ctx, cmd, &out, &out)
	if err != nil || exit != 0 {
		t.Fatalf("%s: %q: exit %d, %v\n%s", h.Name, cmd, exit, err, out.String())
	}
	return out.String()
}

// vmWait runs cmd every second until it exits 0 (auditd and the watcher act asynchronously),
// and returns its last output.
func vmWait(t *testing.T, d Dialer, h Host, what, cmd string) string {
	t.Helper()
	return vmRun(t, d, h, fmt.Sprintf(`for i in $(seq 1 60); do if out=$( { %s; } 2>&1); then printf '%%s\n' "$out"; exit 0; fi; sleep 1; done; printf '%%s\n' "$out"; echo %s >&2; exit 1`,
		cmd, shell.Quote("timed out waiting: "+what)))
}

func TestIntegrationVMAuditWatches(t *testing.T) {
	integration(t)
	const instance = 47
	if out, err := sshBedScript(t, instance, "vm-image.sh"); err != nil {
		t.Fatalf("vm-image.sh: %v\n%s", err, out)
	}
	tb := startTestbed(t, instance, 0) // the bastion alone
	start := time.Now()
	if out, err := tb.script("vm-up", "vm01"); err != nil {
		t.Fatalf("hosts.sh vm-up vm01: %v\n%s", err, out)
	}
	t.Logf("VM vm01 booted and SSH-able in %s", time.Since(start).Round(100*time.Millisecond))
	hosts, _ := readRunDir(t, tb.run)
	if len(hosts) != 1 || hosts[0].Name != "vm01" {
		t.Fatalf("hosts.txt: %v, want vm01 alone", hosts)
	}
	vm := hosts[0]
	d := fleetDialer(t, tb, "hardenctl")

	// master: the etcd rule is loaded, and a read under /var/lib/etcd is in the audit log.
	hardenOne(t, d, vm, "master", "hardenctl", false)
	rules := vmRun(t, d, vm, "auditctl -l")
	t.Logf("auditctl -l after harden master:\n%s", rules)
	if !strings.Contains(rules, "dir=/var/lib/etcd") || !strings.Contains(rules, "key=openshift_etcd") {
		t.Fatalf("the etcd rule is not loaded")
	}
	vmRun(t, d, vm, "mkdir -p /var/lib/etcd/member/snap && echo data >/var/lib/etcd/member/snap/db && cat /var/lib/etcd/member/snap/db >/dev/null")
	log := vmWait(t, d, vm, "etcd access in the audit log", "ausearch -i -k openshift_etcd | grep -F /var/lib/etcd/member/snap/db")
	t.Logf("audit log (ausearch -k openshift_etcd):\n%s", firstLines(log, 4))

	// node: the watcher is a systemd service; mounting a secret adds a watch, reading it is
	// logged, unmounting it removes the watch.
	hardenOne(t, d, vm, "node", "hardenctl", true)
	if st := strings.TrimSpace(vmRun(t, d, vm, "systemctl is-active hardenctl-secret-watch.service")); st != "active" {
		t.Fatalf("secret watcher: %s", st)
	}
	secret := "/var/lib/kubelet/pods/6f1c/volumes/kubernetes.io~secret/db-password"
	q := shell.Quote(secret)
	vmRun(t, d, vm, "mkdir -p "+q+" && mount -t tmpfs -o size=1m tmpfs "+q+" && echo s3cret >"+q+"/password")
	rules = vmWait(t, d, vm, "watch on the mounted secret", "auditctl -l | grep -F -- "+q)
	t.Logf("watch added: %s", strings.TrimSpace(rules))
	vmRun(t, d, vm, "cat "+q+"/password >/dev/null")
	log = vmWait(t, d, vm, "secret access in the audit log", "ausearch -i -k "+profiles.SecretAuditKey+" | grep -F "+shell.Quote(secret+"/password"))
	t.Logf("audit log (ausearch -k %s):\n%s", profiles.SecretAuditKey, firstLines(log, 4))
	vmRun(t, d, vm, "umount "+q)
	vmWait(t, d, vm, "watch removed after umount", "! auditctl -l | grep -qF -- "+q)
	t.Logf("watcher log:\n%s", vmRun(t, d, vm, "cat "+profiles.SecretWatchLog+" 2>/dev/null || journalctl -u hardenctl-secret-watch --no-pager | tail -5"))
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
