package profiles

import (
	"embed"
	"fmt"
	"slices"
	"sort"
	"strings"
)

//go:embed content
var content embed.FS

// EtcdAuditRule watches every open, create and truncate under etcd's data directory (masters).
const EtcdAuditRule = "-a always,exit -F arch=b64 -S creat -S open -S openat -S open_by_handle_at -S truncate -S ftruncate -F dir=/var/lib/etcd -k openshift_etcd"

// DefaultSecretPattern matches kubelet's secret volumes, mounted as tmpfs at
// /var/lib/kubelet/pods/UID/volumes/kubernetes.io~secret/NAME.
const DefaultSecretPattern = "~secret"

// SecretAuditKey is the audit key of the secret-mount watches.
const SecretAuditKey = "hardenctl_secret"

// Paths on the target where hardenctl installs what a profile adds.
const (
	AuditRulesPath    = "/etc/audit/rules.d/90-hardenctl.rules"
	SecretWatchPath   = "/usr/local/sbin/hardenctl-secret-watch"
	SecretWatchUnit   = "/etc/systemd/system/hardenctl-secret-watch.service"
	SecretWatchLog    = "/var/log/hardenctl-secret-watch.log"
	SecretWatchPIDDir = "/run/hardenctl"
)

// Profile says how hardenctl judges and hardens a host: a SCAP profile per OS from the
// operator's content, optional tailoring, and what hardenctl adds on top (audit rules).
// Built-ins come from Builtin; users will define more in HCL (profile blocks).
type Profile struct {
	Name string
	// Datastream overrides the datastream picked from the host's OS (a file name in the
	// content directory).
	Datastream string
	// SCAPProfile maps an OS key (ID plus major version, "debian12", "rhel9") to an XCCDF
	// profile id; the key "*" applies to any OS without its own entry.
	SCAPProfile map[string]string
	// Tailoring is an XCCDF tailoring file on the operator's machine (optional).
	Tailoring string
	// AuditRules are extra auditctl rule lines installed after remediation.
	AuditRules []string
	// WatchEtcd adds EtcdAuditRule.
	WatchEtcd bool
	// WatchSecrets, when set, installs a watcher that adds and removes audit watches on tmpfs
	// mounts whose path contains it (DefaultSecretPattern for kubelet secrets).
	WatchSecrets string
	// MinScore is the score below which a host fails the gate (0 = no gate).
	MinScore float64
}

const ssg = "xccdf_org.ssgproject.content_profile_"

// builtins are the profiles hardenctl ships. Debian's ComplianceAsCode content has standard
// and the ANSSI BP-028 levels; RHEL and Ubuntu use CIS server level 1 (level 2 for high).
func builtins() []Profile {
	standard := map[string]string{
		"debian11": ssg + "standard", "debian12": ssg + "standard", "debian13": ssg + "standard",
		"rhel8": ssg + "standard", "rhel9": ssg + "standard", "rhel10": ssg + "standard",
		"centos9": ssg + "standard", "ubuntu2204": ssg + "standard", "ubuntu2404": ssg + "standard",
	}
	platform := map[string]string{
		"debian11": ssg + "standard", "debian12": ssg + "standard", "debian13": ssg + "standard",
		"rhel8": ssg + "cis_server_l1", "rhel9": ssg + "cis_server_l1", "rhel10": ssg + "cis_server_l1",
		"centos9": ssg + "cis_server_l1", "ubuntu2204": ssg + "cis_level1_server", "ubuntu2404": ssg + "cis_level1_server",
	}
	high := map[string]string{
		"debian11": ssg + "anssi_bp28_high", "debian12": ssg + "anssi_bp28_high", "debian13": ssg + "anssi_bp28_high",
		"rhel8": ssg + "cis_server_l2", "rhel9": ssg + "cis_server_l2", "rhel10": ssg + "cis_server_l2",
		"centos9": ssg + "cis_server_l2", "ubuntu2204": ssg + "cis_level2_server", "ubuntu2404": ssg + "cis_level2_server",
	}
	return []Profile{
		{Name: "standard", SCAPProfile: standard},
		{Name: "master", SCAPProfile: platform, WatchEtcd: true},
		{Name: "node", SCAPProfile: platform, WatchSecrets: DefaultSecretPattern},
		{Name: "high", SCAPProfile: high},
	}
}

// Builtin returns a copy of the built-in profile with that name.
func Builtin(name string) (Profile, error) {
	for _, p := range builtins() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("no built-in profile %q (have %s)", name, strings.Join(Names(), ", "))
}

// Names lists the built-in profiles, sorted.
func Names() []string {
	var n []string
	for _, p := range builtins() {
		n = append(n, p.Name)
	}
	sort.Strings(n)
	return n
}

// SCAPProfileFor returns the XCCDF profile id for an OS key.
func (p Profile) SCAPProfileFor(osKey string) (string, error) {
	if id, ok := p.SCAPProfile[osKey]; ok {
		return id, nil
	}
	if id, ok := p.SCAPProfile["*"]; ok {
		return id, nil
	}
	keys := make([]string, 0, len(p.SCAPProfile))
	for k := range p.SCAPProfile {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "", fmt.Errorf("profile %s names no SCAP profile for %s (it has %s)", p.Name, osKey, strings.Join(keys, ", "))
}

// HasAuditRules reports whether the profile installs an audit rules file.
func (p Profile) HasAuditRules() bool { return p.WatchEtcd || len(p.AuditRules) > 0 }

// AuditRulesFile is the rules.d file the profile installs (nil when it adds none).
func (p Profile) AuditRulesFile() []byte {
	if !p.HasAuditRules() {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Installed by hardenctl (profile %s). Changes are overwritten by the next harden.\n", p.Name)
	if p.WatchEtcd {
		etcd, err := content.ReadFile("content/etcd.rules")
		if err != nil {
			panic(err) // embedded at build time
		}
		b.Write(etcd)
	}
	for _, r := range p.AuditRules {
		b.WriteString(strings.TrimSpace(r))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// AuditRuleDirs lists the directories the profile's rules watch with "-F dir=PATH". The kernel
// refuses such a rule while PATH does not exist, and auditctl stops at the first refused line,
// so one missing directory (etcd not installed yet) would leave every rule of the host
// unloaded, at each boot too: the installer creates them.
func (p Profile) AuditRuleDirs() []string {
	var dirs []string
	for _, line := range strings.Split(string(p.AuditRulesFile()), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "-F" && strings.HasPrefix(f[i+1], "dir=") && !slices.Contains(dirs, f[i+1][len("dir="):]) {
				dirs = append(dirs, f[i+1][len("dir="):])
			}
		}
	}
	return dirs
}

// SecretWatchScript is the watcher installed at SecretWatchPath: it takes the pattern and the
// audit key as arguments and runs until killed.
func SecretWatchScript() []byte {
	b, err := content.ReadFile("content/hardenctl-secret-watch.sh")
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// SecretWatchService is the systemd unit that runs the watcher with the profile's pattern.
func (p Profile) SecretWatchService() []byte {
	b, err := content.ReadFile("content/hardenctl-secret-watch.service")
	if err != nil {
		panic(err) // embedded at build time
	}
	arg := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(p.WatchSecrets) + `"`
	return []byte(strings.ReplaceAll(string(b), "@PATTERN@", arg))
}
