package hardening

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/profiles"
)

// What harden does after oscap --remediate: install the profile's additions (audit rules, the
// secret-mount watcher), then the bastion-safe guard: check that sshd still lets the login user
// in from the address we come from (the bastion's), repair it if a remediation cut that path,
// restart sshd so the checked configuration is the live one, connect again and prove that the
// new connection still reaches root.

// backupPaths are saved before remediation so the guard can restore the admin path.
var backupPaths = []string{"/etc/ssh", "/etc/sudoers", "/etc/sudoers.d"}

// backupAccessConfig copies sshd's and sudo's configuration into the remote directory.
func (rs *remoteDir) backupAccessConfig(ctx context.Context) error {
	cmd := "mkdir -p " + shellQuote(rs.dir+"/backup") + " && for p in " + strings.Join(backupPaths, " ") +
		`; do [ -e "$p" ] && cp -a --parents "$p" ` + shellQuote(rs.dir+"/backup") + `; done; true`
	_, err := runOut(ctx, rs.conn, cmd, "back up sshd and sudo configuration")
	return err
}

// restoreAccessConfig puts the saved sshd and sudo configuration back.
func (rs *remoteDir) restoreAccessConfig(ctx context.Context, paths ...string) error {
	var b strings.Builder
	for _, p := range paths {
		src := rs.dir + "/backup" + p
		fmt.Fprintf(&b, "if [ -e %s ]; then rm -rf %s && cp -a %s %s; fi; ", shellQuote(src), shellQuote(p), shellQuote(src), shellQuote(path.Dir(p)))
	}
	b.WriteString("true")
	_, err := runOut(ctx, rs.conn, b.String(), "restore "+strings.Join(paths, " "))
	return err
}

// installAdditions installs the profile's audit rules and secret watcher. What the host cannot
// do (a kernel that refuses audit rules, as in a container or a namespace host) is recorded as a
// note, not an error: the files are in place for the next boot.
func (s *Scanner) installAdditions(ctx context.Context, rs *remoteDir, res *HostResult) error {
	p := s.Profile
	if rules := p.AuditRulesFile(); rules != nil {
		if err := rs.upload(ctx, "audit.rules", rules, ""); err != nil {
			return err
		}
		install := fmt.Sprintf("install -D -m 0640 %s %s", shellQuote(rs.dir+"/audit.rules"), profiles.AuditRulesPath)
		if _, err := runOut(ctx, rs.conn, install, "install audit rules"); err != nil {
			return err
		}
		// augenrules merges rules.d into audit.rules and loads it, but says nothing when the
		// kernel refuses; auditctl -R on our file then loads it alone or tells why not.
		load := "{ command -v augenrules >/dev/null && augenrules --load; } || auditctl -R " + profiles.AuditRulesPath
		if out, err := runOut(ctx, rs.conn, load+" 2>&1", "load audit rules"); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("audit rules written to %s but not loaded (%v): %s", profiles.AuditRulesPath, err, oneLine(out, 200)))
		} else if missing := s.missingAuditRules(ctx, rs.conn); missing != "" {
			res.Notes = append(res.Notes, "audit rules written to "+profiles.AuditRulesPath+" but not active: "+missing)
		}
	}
	if p.WatchSecrets != "" {
		if err := s.installSecretWatch(ctx, rs, res); err != nil {
			return err
		}
	}
	return nil
}

// missingAuditRules checks auditctl -l for the keys of the rules just loaded.
func (s *Scanner) missingAuditRules(ctx context.Context, conn Conn) string {
	var keys []string
	if s.Profile.WatchEtcd {
		keys = append(keys, "openshift_etcd")
	}
	for _, r := range s.Profile.AuditRules {
		f := strings.Fields(r)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "-k" || f[i] == "-F" && strings.HasPrefix(f[i+1], "key=") {
				keys = append(keys, strings.TrimPrefix(f[i+1], "key="))
			}
		}
	}
	out, err := runOut(ctx, conn, "auditctl -l 2>&1", "list audit rules")
	if err != nil {
		return err.Error()
	}
	var missing []string
	for _, k := range keys {
		if !strings.Contains(out, "key="+k) && !strings.Contains(out, "-k "+k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return "auditctl -l lacks key " + strings.Join(missing, ", ")
	}
	return ""
}

// installSecretWatch installs the watcher script and runs it: as a systemd service where
// systemd runs, else as a daemon (setsid nohup) that replaces the previous one.
func (s *Scanner) installSecretWatch(ctx context.Context, rs *remoteDir, res *HostResult) error {
	if err := rs.upload(ctx, "secret-watch", profiles.SecretWatchScript(), ""); err != nil {
		return err
	}
	if err := rs.upload(ctx, "secret-watch.service", s.Profile.SecretWatchService(), ""); err != nil {
		return err
	}
	pidFile := profiles.SecretWatchPIDDir + "/secret-watch.pid"
	cmd := fmt.Sprintf(`set -e
install -D -m 0755 %[1]s/secret-watch %[2]s
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  install -D -m 0644 %[1]s/secret-watch.service %[3]s
  systemctl daemon-reload
  systemctl enable hardenctl-secret-watch.service >/dev/null 2>&1
  systemctl restart hardenctl-secret-watch.service
  sleep 1
  systemctl is-active hardenctl-secret-watch.service
else
  mkdir -p %[4]s
  if [ -f %[5]s ]; then kill "$(cat %[5]s)" 2>/dev/null || true; fi
  setsid nohup %[2]s %[6]s %[7]s >>%[8]s 2>&1 </dev/null &
  echo $! >%[5]s
  sleep 1
  kill -0 "$(cat %[5]s)"
  echo daemon
fi`, shellQuote(rs.dir), profiles.SecretWatchPath, profiles.SecretWatchUnit, profiles.SecretWatchPIDDir, pidFile,
		shellQuote(s.Profile.WatchSecrets), profiles.SecretAuditKey, profiles.SecretWatchLog)
	out, err := runOut(ctx, rs.conn, cmd, "start the secret-mount watcher")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) == "daemon" {
		res.Notes = append(res.Notes, "no systemd on the host: secret-mount watcher runs as a daemon (pid file "+pidFile+"), not restarted on boot")
	}
	return nil
}

// sshdAccess is what sshd -T says about one login.
type sshdAccess struct {
	settings map[string]string
}

// denies says why sshd would refuse user (empty when it lets the user in with a key).
func (a sshdAccess) denies(user string) string {
	get := func(k string) string { return a.settings[k] }
	if user == "root" {
		switch get("permitrootlogin") {
		case "no", "forced-commands-only":
			return "PermitRootLogin " + get("permitrootlogin")
		}
	}
	if get("pubkeyauthentication") == "no" {
		return "PubkeyAuthentication no"
	}
	if allow := get("allowusers"); allow != "" && !matchUserList(allow, user) {
		return "AllowUsers " + allow
	}
	if deny := get("denyusers"); deny != "" && matchUserList(deny, user) {
		return "DenyUsers " + deny
	}
	return ""
}

// matchUserList matches user against an AllowUsers/DenyUsers list (USER or USER@HOST
// patterns; the host part is not checked).
func matchUserList(list, user string) bool {
	for _, p := range strings.Fields(list) {
		p, _, _ = strings.Cut(p, "@")
		if ok, _ := path.Match(p, user); ok {
			return true
		}
	}
	return false
}

// parseSSHDT parses sshd -T output; repeated keywords (allowusers) are joined.
func parseSSHDT(r io.Reader) sshdAccess {
	a := sshdAccess{settings: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if k == "" {
			continue
		}
		if prev, ok := a.settings[k]; ok && prev != "" {
			v = prev + " " + v
		}
		a.settings[strings.ToLower(k)] = v
	}
	return a
}

// guardCommand prints, for each peer address of the established SSH connections (the bastion's,
// as the host sees it), the effective sshd settings for the login user.
func guardCommand(user string) string {
	return fmt.Sprintf(`sshd -t || exit 3
addrs=$(echo "$SSH_CONNECTION" | cut -d' ' -f1)
[ -n "$addrs" ] || addrs=$(ss -Htn state established '( sport = :22 )' 2>/dev/null | awk '{a=$4; sub(/:[0-9]+$/, "", a); gsub(/[][]/, "", a); print a}' | sort -u)
[ -n "$addrs" ] || addrs=127.0.0.1
for a in $addrs; do echo "== $a"; sshd -T -C user=%[1]s,host=$a,addr=$a || exit 4; done`, shellQuote(user))
}

// checkSSHD runs the guard command and returns, per peer address, why the user is refused.
func checkSSHD(ctx context.Context, conn Conn, user string) (refused map[string]string, invalid bool, err error) {
	out, err := runOut(ctx, conn, guardCommand(user), "check sshd configuration")
	if re := (*remoteError)(nil); errors.As(err, &re) && re.Exit == 3 {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	refused = map[string]string{}
	for _, block := range strings.Split(out, "== ")[1:] {
		addr, body, _ := strings.Cut(block, "\n")
		if why := parseSSHDT(strings.NewReader(body)).denies(user); why != "" {
			refused[strings.TrimSpace(addr)] = why
		}
	}
	return refused, false, nil
}

// reloadSSHD makes sshd read its configuration: systemctl where systemd runs, else SIGHUP to the
// listener (sshd re-executes itself; open sessions stay).
const reloadSSHD = `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl restart ssh 2>/dev/null || systemctl restart sshd; ` +
	`elif [ -f /run/sshd.pid ]; then kill -HUP "$(cat /run/sshd.pid)"; else pkill -HUP -x -o sshd; fi`

// guard keeps the admin path: it repairs sshd's configuration when remediation cut it, restarts
// sshd, then dials the host again and checks that the new connection reaches root. It returns
// the new connection. When the new connection fails, it restores the saved configuration over
// the old one and reports the lock-out as an error.
func (s *Scanner) guard(ctx context.Context, h Host, rs *remoteDir, res *HostResult) (Conn, error) {
	user := s.LoginUser
	if user == "" {
		user = "root"
	}
	refused, invalid, err := checkSSHD(ctx, rs.conn, user)
	if err != nil {
		return nil, err
	}
	if invalid {
		res.Notes = append(res.Notes, "sshd -t rejected the remediated configuration: restored /etc/ssh")
		if err := rs.restoreAccessConfig(ctx, "/etc/ssh"); err != nil {
			return nil, err
		}
		if refused, invalid, err = checkSSHD(ctx, rs.conn, user); err != nil || invalid {
			return nil, fmt.Errorf("guard: sshd configuration still invalid after restore (%v)", err)
		}
	}
	if len(refused) > 0 {
		if err := s.repairSSHD(ctx, rs, user, refused, res); err != nil {
			return nil, err
		}
	}
	if _, err := runOut(ctx, rs.conn, reloadSSHD, "restart sshd"); err != nil {
		return nil, err
	}
	conn2, err := s.verifyAccess(ctx, h)
	if err == nil {
		return conn2, nil
	}
	// Locked out: the old connection still works. Put sshd and sudo back as they were.
	res.Notes = append(res.Notes, "new connection after remediation failed ("+err.Error()+"): restored /etc/ssh and sudoers")
	if rerr := rs.restoreAccessConfig(ctx, backupPaths...); rerr != nil {
		return nil, fmt.Errorf("guard: locked out (%v) and restore failed: %w", err, rerr)
	}
	if _, rerr := runOut(ctx, rs.conn, reloadSSHD, "restart sshd"); rerr != nil {
		return nil, rerr
	}
	conn2, err2 := s.verifyAccess(ctx, h)
	if err2 != nil {
		return nil, fmt.Errorf("guard: no access after remediation (%v), nor after restoring the configuration: %w", err, err2)
	}
	return conn2, nil
}

// repairSSHD lets the login user in again from the addresses it comes from. For root that means
// a Match block that keeps key-only root login from those addresses (and a note: use a sudo
// user); AllowUsers/DenyUsers cuts are undone by restoring /etc/ssh.
func (s *Scanner) repairSSHD(ctx context.Context, rs *remoteDir, user string, refused map[string]string, res *HostResult) error {
	var addrs, whys []string
	needRestore := false
	for a, why := range refused {
		addrs = append(addrs, a)
		whys = append(whys, why)
		if strings.HasPrefix(why, "AllowUsers") || strings.HasPrefix(why, "DenyUsers") {
			needRestore = true
		}
	}
	if needRestore {
		res.Notes = append(res.Notes, fmt.Sprintf("guard: remediation refused %s over SSH (%s): restored /etc/ssh", user, strings.Join(whys, "; ")))
		if err := rs.restoreAccessConfig(ctx, "/etc/ssh"); err != nil {
			return err
		}
	} else {
		block := fmt.Sprintf("\n# hardenctl bastion-safe guard: keep the admin path for %s from %s\nMatch User %s Address %s\n", user, strings.Join(addrs, ","), user, strings.Join(addrs, ","))
		if user == "root" {
			block += "\tPermitRootLogin prohibit-password\n"
		}
		block += "\tPubkeyAuthentication yes\n"
		cmd := "printf '%s' " + shellQuote(block) + " >> /etc/ssh/sshd_config"
		if _, err := runOut(ctx, rs.conn, cmd, "repair sshd configuration"); err != nil {
			return err
		}
		msg := fmt.Sprintf("guard: remediation refused %s over SSH (%s): kept key login for %s from %s with a Match block", user, strings.Join(whys, "; "), user, strings.Join(addrs, ","))
		if user == "root" {
			msg += "; log in as a sudo user (--user) to keep root login off"
		}
		res.Notes = append(res.Notes, msg)
	}
	still, invalid, err := checkSSHD(ctx, rs.conn, user)
	switch {
	case err != nil:
		return err
	case invalid:
		return fmt.Errorf("guard: repaired sshd configuration does not pass sshd -t")
	case len(still) > 0:
		return fmt.Errorf("guard: cannot keep SSH access for %s: %v", user, still)
	}
	return nil
}

// verifyAccess dials the host again (through the bastion, like the first time) and checks that
// commands still run as root.
func (s *Scanner) verifyAccess(ctx context.Context, h Host) (Conn, error) {
	// sshd needs a moment to re-execute after SIGHUP.
	var lastErr error
	for i := 0; i < 5; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(i) * 300 * time.Millisecond):
			}
		}
		conn, err := s.Dialer.Dial(ctx, h)
		if err != nil {
			lastErr = fmt.Errorf("reconnect: %w", err)
			continue
		}
		out, err := runOut(ctx, conn, "id -u", "run as root")
		if err == nil && strings.TrimSpace(out) == "0" {
			return conn, nil
		}
		conn.Close()
		if err == nil {
			err = fmt.Errorf("commands run as uid %s, not root (sudo broken?)", strings.TrimSpace(out))
		}
		return nil, err
	}
	return nil, lastErr
}
