package profiles

import (
	"slices"
	"strings"
	"testing"
)

func TestBuiltins(t *testing.T) {
	if got := strings.Join(Names(), ","); got != "high,master,node,standard" {
		t.Errorf("Names = %s", got)
	}
	for _, name := range Names() {
		p, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		id, err := p.SCAPProfileFor("debian12")
		if err != nil || !strings.HasPrefix(id, "xccdf_org.ssgproject.content_profile_") {
			t.Errorf("%s debian12 = %q, %v", name, id, err)
		}
	}
	std, _ := Builtin("standard")
	if id, _ := std.SCAPProfileFor("debian12"); id != "xccdf_org.ssgproject.content_profile_standard" {
		t.Errorf("standard debian12 = %s", id)
	}
	if _, err := std.SCAPProfileFor("plan9"); err == nil || !strings.Contains(err.Error(), "plan9") {
		t.Errorf("unknown OS: %v", err)
	}
	if _, err := Builtin("nope"); err == nil {
		t.Error("unknown profile: no error")
	}
	// Builtin returns copies: changing one does not change the next.
	std.SCAPProfile["debian12"] = "x"
	again, _ := Builtin("standard")
	if again.SCAPProfile["debian12"] == "x" {
		t.Error("Builtin shares its map")
	}
}

func TestMasterAuditRules(t *testing.T) {
	m, _ := Builtin("master")
	f := string(m.AuditRulesFile())
	want := "-a always,exit -F arch=b64 -S creat -S open -S openat -S open_by_handle_at -S truncate -S ftruncate -F dir=/var/lib/etcd -k openshift_etcd\n"
	if !strings.Contains(f, want) || !strings.Contains(f, EtcdAuditRule) {
		t.Errorf("master rules file:\n%s", f)
	}
	std, _ := Builtin("standard")
	if std.AuditRulesFile() != nil {
		t.Error("standard adds audit rules")
	}
	std.AuditRules = []string{" -w /etc/shadow -p wa -k shadow "}
	if !strings.HasSuffix(string(std.AuditRulesFile()), "\n-w /etc/shadow -p wa -k shadow\n") {
		t.Errorf("extra rules: %q", std.AuditRulesFile())
	}
}

func TestNodeSecretWatch(t *testing.T) {
	n, _ := Builtin("node")
	if n.WatchSecrets != "~secret" || !strings.Contains("/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/tok", n.WatchSecrets) {
		t.Errorf("pattern %q does not match kubelet's secret volumes", n.WatchSecrets)
	}
	if !strings.Contains(string(SecretWatchScript()), "findmnt --poll") {
		t.Error("watcher script does not poll mounts")
	}
	n.WatchSecrets = `a"b%c`
	if unit := string(n.SecretWatchService()); !strings.Contains(unit, `ExecStart=/usr/local/sbin/hardenctl-secret-watch "a\"b%%c" hardenctl_secret`) {
		t.Errorf("unit:\n%s", unit)
	}
}

func TestAuditRuleDirs(t *testing.T) {
	master, _ := Builtin("master")
	if got := master.AuditRuleDirs(); !slices.Equal(got, []string{"/var/lib/etcd"}) {
		t.Errorf("master: %q", got)
	}
	p := Profile{Name: "x", WatchEtcd: true, AuditRules: []string{
		"-a always,exit -F arch=b64 -S openat -F dir=/srv/vault -k vault",
		"-w /etc/kubernetes -p wa -k kube",
		"-a always,exit -F dir=/var/lib/etcd -k again",
	}}
	if got := p.AuditRuleDirs(); !slices.Equal(got, []string{"/var/lib/etcd", "/srv/vault"}) {
		t.Errorf("custom: %q", got)
	}
	if got := (Profile{Name: "standard"}).AuditRuleDirs(); got != nil {
		t.Errorf("standard: %q", got)
	}
}
