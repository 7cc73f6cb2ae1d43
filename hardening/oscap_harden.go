package hardening

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/internal/shell"
	"github.com/hardenctl/hardenctl/profiles"
)

// What harden does after oscap --remediate: install the profile's additions (audit rules, the
// secret-mount watcher), then the bastion-safe guard: check that sshd still lets the login user
// in from the address we come from (the bastion's), repair it if a remediation cut that path,
// restart sshd so the checked configuration is the live one, connect again and prove that the
// new connection still reaches root. When the host is the bastion itself, the guard also keeps
// the bastion user's login and TCP forwarding from our address (every other host is reached
// through it), and proves it on a new bastion connection.

// backupPaths are saved before remediation so the guard can restore the admin path.
var backupPaths = []string{"/etc/ssh", "/etc/sudoers", "/etc/sudoers.d"}

// backupAccessConfig copies sshd's and sudo's configuration into the remote directory.
func (rs *remoteDir) backupAccessConfig(ctx context.Context) error {
	cmd := "mkdir -p " + shell.Quote(rs.dir+"/backup") + " && for p in " + strings.Join(backupPaths, " ") +
		`; do [ -e "$p" ] && cp -a --parents "$p" ` + shell.Quote(rs.dir+"/backup") + `; done; true`
	_, err := runOut(ctx, rs.conn, cmd, "back up sshd and sudo configuration")
	return err
}

// restoreAccessConfig puts the saved sshd and sudo configuration back.
func (rs *remoteDir) restoreAccessConfig(ctx context.Context, paths ...string) error {
	var b strings.Builder
	for _, p := range paths {
		src := rs.dir + "/backup" + p
		fmt.Fprintf(&b, "if [ -e %s ]; then rm -rf %s && cp -a %s %s; fi; ", shell.Quote(src), shell.Quote(p), shell.Quote(src), shell.Quote(path.Dir(p)))
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
		install := fmt.Sprintf("install -D -m 0640 %s %s", shell.Quote(rs.dir+"/audit.rules"), profiles.AuditRulesPath)
		for _, d := range p.AuditRuleDirs() {
			install += fmt.Sprintf(" && { [ -d %[1]s ] || { install -d -m 0700 %[1]s && echo %[1]s; }; }", shell.Quote(d))
		}
		created, err := runOut(ctx, rs.conn, install, "install audit rules")
		if err != nil {
			return err
		}
		if created = strings.TrimSpace(created); created != "" {
			res.Notes = append(res.Notes, "created (empty, mode 0700) the directories the audit rules watch, which the kernel needs to load them: "+strings.Join(strings.Split(created, "\n"), ", "))
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
fi`, shell.Quote(rs.dir), profiles.SecretWatchPath, profiles.SecretWatchUnit, profiles.SecretWatchPIDDir, pidFile,
		shell.Quote(s.Profile.WatchSecrets), profiles.SecretAuditKey, profiles.SecretWatchLog)
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

// forwardingCut says why sshd would refuse the login's direct-tcpip channels (ssh -L, and
// every target connection through a bastion); empty when it allows them.
func (a sshdAccess) forwardingCut() string {
	if a.settings["disableforwarding"] == "yes" {
		return "DisableForwarding yes"
	}
	switch v := a.settings["allowtcpforwarding"]; v {
	case "no", "remote":
		return "AllowTcpForwarding " + v
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

// sshPath is one way in that the guard keeps open from the addresses hardenctl comes from:
// key login for a user and, when the host is the bastion, that user's TCP forwarding, which
// every connection to the other hosts goes through.
type sshPath struct {
	user    string
	forward bool
}

// cut says why sshd's effective settings close the path (empty when they keep it open).
func (p sshPath) cut(a sshdAccess) string {
	why := a.denies(p.user)
	if !p.forward {
		return why
	}
	if fwd := a.forwardingCut(); fwd != "" && why != "" {
		why += ", " + fwd
	} else if fwd != "" {
		why = fwd
	}
	return why
}

func (p sshPath) String() string {
	if p.forward {
		return "the bastion's TCP forwarding for " + p.user
	}
	return "key login for " + p.user
}

// matchBlock is the sshd_config Match block that opens the path again from addrs; it allows
// (local) TCP forwarding only when why says forwarding was cut.
func (p sshPath) matchBlock(addrs, why string) string {
	block := fmt.Sprintf("\n# hardenctl bastion-safe guard: keep %s from %s\nMatch User %s Address %s\n", p, addrs, p.user, addrs)
	if p.user == "root" {
		block += "\tPermitRootLogin prohibit-password\n"
	}
	block += "\tPubkeyAuthentication yes\n"
	if p.forward && strings.Contains(why, "Forwarding") {
		block += "\tDisableForwarding no\n\tAllowTcpForwarding local\n"
	}
	return block
}

// guardCommand prints, for each peer address of the established SSH connections (the bastion's,
// as the host sees it), the effective sshd settings for the login user.
func guardCommand(user string) string {
	return fmt.Sprintf(`sshd -t || exit 3
addrs=$(echo "$SSH_CONNECTION" | cut -d' ' -f1)
[ -n "$addrs" ] || addrs=$(ss -Htn state established '( sport = :22 )' 2>/dev/null | awk '{a=$4; sub(/:[0-9]+$/, "", a); gsub(/[][]/, "", a); print a}' | sort -u)
[ -n "$addrs" ] || addrs=127.0.0.1
for a in $addrs; do echo "== $a"; sshd -T -C user=%[1]s,host=$a,addr=$a || exit 4; done`, shell.Quote(user))
}

// checkSSHD runs the guard command for the path's user and returns, per peer address, why
// the path is closed.
func checkSSHD(ctx context.Context, conn Conn, p sshPath) (refused map[string]string, invalid bool, err error) {
	out, err := runOut(ctx, conn, guardCommand(p.user), "check sshd configuration")
	if re := (*remoteError)(nil); errors.As(err, &re) && re.Exit == 3 {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return judgeSSHDT(out, p), false, nil
}

// judgeSSHDT reads the guard command's output: per peer address, why sshd closes the path.
func judgeSSHDT(out string, p sshPath) map[string]string {
	refused := map[string]string{}
	for _, block := range strings.Split(out, "== ")[1:] {
		addr, body, _ := strings.Cut(block, "\n")
		if why := p.cut(parseSSHDT(strings.NewReader(body))); why != "" {
			refused[strings.TrimSpace(addr)] = why
		}
	}
	return refused
}

// reloadSSHD makes sshd read its configuration: systemctl where systemd runs, else SIGHUP to the
// listener (sshd re-executes itself; open sessions stay).
const reloadSSHD = `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl restart ssh 2>/dev/null || systemctl restart sshd; ` +
	`elif [ -f /run/sshd.pid ]; then kill -HUP "$(cat /run/sshd.pid)"; else pkill -HUP -x -o sshd; fi`

// bastionDialer is what a Dialer that reaches hosts through a bastion tells harden, so that
// hardening the bastion itself keeps the forwarding every other host is reached through.
type bastionDialer interface {
	// IsBastion reports whether h is the bastion (which the Dialer then dials directly).
	IsBastion(h Host) bool
	// BastionUser is the user the bastion connections log in as.
	BastionUser() string
	// ProveBastionForwarding forwards to the bastion's own sshd over a new bastion connection.
	ProveBastionForwarding(ctx context.Context) error
}

// bastionGuard is set while hardening the bastion itself, when its forwarding worked before
// remediation.
type bastionGuard struct {
	d    bastionDialer
	user string
}

// guardBastion returns, when h is the bastion, its guard, after proving that its forwarding
// works before remediation; forwarding that did not work before is not judged after (a note
// says so). For any other host it returns nil.
func (s *Scanner) guardBastion(ctx context.Context, h Host, res *HostResult) *bastionGuard {
	bd, ok := s.Dialer.(bastionDialer)
	if !ok || !bd.IsBastion(h) {
		return nil
	}
	if err := bd.ProveBastionForwarding(ctx); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("guard: %s is the bastion, but its TCP forwarding did not work before remediation (%v): not checked after", res.Host, err))
		return nil
	}
	s.logger().Info("host is the bastion: its TCP forwarding works and will be kept", "host", res.Host, "bastion_user", bd.BastionUser())
	return &bastionGuard{d: bd, user: bd.BastionUser()}
}

// guard keeps the admin path: it repairs sshd's configuration when remediation cut it (for the
// bastion, its TCP forwarding too), restarts sshd, then dials the host again and checks that the
// new connection reaches root (and that a new bastion connection forwards). It returns the new
// connection. When the proof fails, it restores the saved configuration over the old connection
// and reports the lock-out as an error.
func (s *Scanner) guard(ctx context.Context, h Host, rs *remoteDir, res *HostResult, bg *bastionGuard) (Conn, error) {
	user := s.LoginUser
	if user == "" {
		user = "root"
	}
	paths := []sshPath{{user: user}}
	if bg != nil {
		paths = append(paths, sshPath{user: bg.user, forward: true})
	}
	_, invalid, err := checkSSHD(ctx, rs.conn, paths[0])
	if err != nil {
		return nil, err
	}
	if invalid {
		res.Notes = append(res.Notes, "sshd -t rejected the remediated configuration: restored /etc/ssh")
		if err := rs.restoreAccessConfig(ctx, "/etc/ssh"); err != nil {
			return nil, err
		}
	}
	for _, p := range paths {
		if err := s.keepPath(ctx, rs, p, res); err != nil {
			return nil, err
		}
	}
	for _, p := range paths[:len(paths)-1] { // a restore for a later path undid earlier Match blocks
		still, invalid, err := checkSSHD(ctx, rs.conn, p)
		switch {
		case err != nil:
			return nil, err
		case invalid || len(still) > 0:
			return nil, fmt.Errorf("cannot keep %s once sshd's configuration was restored (sshd -t fails: %t; refused: %v)", p, invalid, still)
		}
	}
	if _, err := runOut(ctx, rs.conn, reloadSSHD, "restart sshd"); err != nil {
		return nil, err
	}
	conn2, err := s.proveAccess(ctx, h, bg)
	if err == nil {
		return conn2, nil
	}
	// Locked out: the old connection still works. Put sshd and sudo back as they were.
	res.Notes = append(res.Notes, "new connection after remediation failed ("+err.Error()+"): restored /etc/ssh and sudoers")
	if rerr := rs.restoreAccessConfig(ctx, backupPaths...); rerr != nil {
		return nil, fmt.Errorf("locked out (%v) and restore failed: %w", err, rerr)
	}
	if _, rerr := runOut(ctx, rs.conn, reloadSSHD, "restart sshd"); rerr != nil {
		return nil, rerr
	}
	conn2, err2 := s.proveAccess(ctx, h, bg)
	if err2 != nil {
		return nil, fmt.Errorf("no access after remediation (%v), nor after restoring the configuration: %w", err, err2)
	}
	return conn2, nil
}

// keepPath opens the path again when sshd's remediated configuration closes it: a Match block
// for the user from the addresses hardenctl comes from (for root, key-only root login; a note
// says to use a sudo user), or, for AllowUsers/DenyUsers cuts and when the Match block does not
// win (an earlier Match block, an Include), the saved /etc/ssh.
func (s *Scanner) keepPath(ctx context.Context, rs *remoteDir, p sshPath, res *HostResult) error {
	refused, invalid, err := checkSSHD(ctx, rs.conn, p)
	switch {
	case err != nil:
		return err
	case invalid:
		return fmt.Errorf("check %s: sshd -t rejects the configuration, even the saved one", p)
	case len(refused) == 0:
		return nil
	}
	addrs := slices.Sorted(maps.Keys(refused))
	var whys []string
	needRestore := false
	for _, a := range addrs {
		why := refused[a]
		whys = append(whys, a+": "+why)
		if strings.Contains(why, "AllowUsers") || strings.Contains(why, "DenyUsers") {
			needRestore = true
		}
	}
	cause := fmt.Sprintf("guard: remediation cut %s over SSH (%s)", p, strings.Join(whys, "; "))
	s.logger().Info("guard: remediation cut an SSH path", "host", res.Host, "path", p.String(), "refused", strings.Join(whys, "; "))
	if !needRestore {
		from := strings.Join(addrs, ",")
		cmd := "printf '%s' " + shell.Quote(p.matchBlock(from, strings.Join(whys, "; "))) + " >> /etc/ssh/sshd_config"
		if _, err := runOut(ctx, rs.conn, cmd, "repair sshd configuration"); err != nil {
			return err
		}
		still, invalid, err := checkSSHD(ctx, rs.conn, p)
		switch {
		case err != nil:
			return err
		case invalid:
			return fmt.Errorf("repair %s: the Match block does not pass sshd -t", p)
		case len(still) == 0:
			msg := cause + ": kept it from " + from + " with a Match block"
			switch {
			case p.user == "root" && !p.forward:
				msg += "; log in as a sudo user (--user) to keep root login off"
			case p.user == "root" && strings.Contains(cause, "PermitRootLogin"):
				msg += "; give the bastion a non-root user (--bastion USER@HOST) to keep root login off"
			}
			res.Notes = append(res.Notes, msg)
			return nil
		}
		cause += fmt.Sprintf(", and a Match block did not win (%v)", still)
	}
	res.Notes = append(res.Notes, cause+": restored /etc/ssh")
	if err := rs.restoreAccessConfig(ctx, "/etc/ssh"); err != nil {
		return err
	}
	still, invalid, err := checkSSHD(ctx, rs.conn, p)
	switch {
	case err != nil:
		return err
	case invalid:
		return fmt.Errorf("restore %s: the saved sshd configuration does not pass sshd -t", p)
	case len(still) > 0:
		return fmt.Errorf("cannot keep %s, not even with the saved sshd configuration: %v", p, still)
	}
	return nil
}

// proveAccess dials the host again and checks that commands run as root; for the bastion it
// also proves that a new bastion connection still forwards.
func (s *Scanner) proveAccess(ctx context.Context, h Host, bg *bastionGuard) (Conn, error) {
	conn, err := s.verifyAccess(ctx, h)
	if err != nil || bg == nil {
		return conn, err
	}
	for i := 0; ; i++ {
		if err = bg.d.ProveBastionForwarding(ctx); err == nil {
			s.logger().Info("guard: the bastion still forwards on a new connection", "host", h.Name, "bastion_user", bg.user)
			return conn, nil
		}
		if i == 4 || pause(ctx, i+1) != nil {
			conn.Close()
			return nil, fmt.Errorf("TCP forwarding through the bastion after remediation: %w", err)
		}
	}
}

// verifyAccess dials the host again (through the bastion, like the first time) and checks that
// commands still run as root.
func (s *Scanner) verifyAccess(ctx context.Context, h Host) (Conn, error) {
	var lastErr error
	for i := 0; i < 5; i++ {
		if err := pause(ctx, i); err != nil {
			return nil, err
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

// pause waits before the i-th retry of a new connection: sshd needs a moment to re-execute
// after SIGHUP.
func pause(ctx context.Context, i int) error {
	if i == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(i) * 300 * time.Millisecond):
		return nil
	}
}
