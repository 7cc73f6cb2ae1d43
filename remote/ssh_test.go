package remote

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// sshUnit is one in-process server with a client identity and a known_hosts file.
type sshUnit struct {
	srv        *sshTestServer
	identity   string
	knownHosts string
}

func newSSHUnit(t *testing.T, known bool) *sshUnit {
	t.Helper()
	client, priv := newTestSigner(t)
	u := &sshUnit{srv: startSSHTestServer(t, client.PublicKey()), identity: writeTestIdentity(t, priv)}
	u.knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	content := ""
	if known {
		content = u.srv.KnownHostsLine() + "\n"
	}
	if err := os.WriteFile(u.knownHosts, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u *sshUnit) config() Config {
	return Config{User: "root", IdentityFiles: []string{u.identity}, KnownHostsFile: u.knownHosts, ConnectTimeout: 5 * time.Second}
}

func (u *sshUnit) dial(t *testing.T, cfg Config) (*Session, error) {
	t.Helper()
	d, err := NewDialer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), Host{Name: "unit", Address: u.srv.Addr})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestSSHUnknownHost(t *testing.T) {
	u := newSSHUnit(t, false)
	_, err := u.dial(t, u.config())
	var uh *UnknownHostError
	if !errors.As(err, &uh) {
		t.Fatalf("want *UnknownHostError, got %T: %v", err, err)
	}
	if want := ssh.FingerprintSHA256(u.srv.HostKey.PublicKey()); uh.Fingerprint != want {
		t.Errorf("fingerprint %s, want %s", uh.Fingerprint, want)
	}
	var hc *HostKeyChangedError
	if errors.As(err, &hc) {
		t.Error("an unknown host must not be reported as a changed key")
	}
	if b, _ := os.ReadFile(u.knownHosts); len(b) != 0 {
		t.Errorf("known_hosts written without trust on first use: %q", b)
	}
	t.Log(err)
}

func TestSSHHostKeyChanged(t *testing.T) {
	u := newSSHUnit(t, false)
	other, _ := newTestSigner(t)
	line := strings.Replace(u.srv.KnownHostsLine(), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(u.srv.HostKey.PublicKey()))),
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey()))), 1) + "\n"
	os.WriteFile(u.knownHosts, []byte(line), 0o600)
	for _, tofu := range []bool{false, true} {
		cfg := u.config()
		cfg.TrustOnFirstUse = tofu
		_, err := u.dial(t, cfg)
		var hc *HostKeyChangedError
		if !errors.As(err, &hc) {
			t.Fatalf("tofu=%v: want *HostKeyChangedError, got %T: %v", tofu, err, err)
		}
		if hc.Got != ssh.FingerprintSHA256(u.srv.HostKey.PublicKey()) || len(hc.Want) != 1 ||
			!strings.HasPrefix(hc.Want[0], ssh.FingerprintSHA256(other.PublicKey())) {
			t.Errorf("tofu=%v: %+v", tofu, hc)
		}
		var uh *UnknownHostError
		if errors.As(err, &uh) {
			t.Error("a changed key must not be reported as an unknown host")
		}
		if b, _ := os.ReadFile(u.knownHosts); string(b) != line {
			t.Errorf("tofu=%v: known_hosts changed: %q", tofu, b)
		}
		t.Log(err)
	}
}

func TestSSHTrustOnFirstUseWritesKeyOnce(t *testing.T) {
	u := newSSHUnit(t, false)
	cfg := u.config()
	cfg.TrustOnFirstUse = true
	d, err := NewDialer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 { // concurrent first dials: one line, not ten, and no torn file
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Dial(context.Background(), Host{Address: u.srv.Addr})
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(u.knownHosts)
	if got, want := string(b), u.srv.KnownHostsLine()+"\n"; got != want {
		t.Fatalf("known_hosts:\n%s\nwant:\n%s", got, want)
	}
	// now known: a dialer without the flag gets in
	cfg.TrustOnFirstUse = false
	if _, err := u.dial(t, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestSSHAuthFailure(t *testing.T) {
	u := newSSHUnit(t, true)
	_, stranger := newTestSigner(t)
	cfg := u.config()
	cfg.IdentityFiles = []string{writeTestIdentity(t, stranger)}
	_, err := u.dial(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("want an authentication error, got %v", err)
	}
	if isHostKeyError(err) {
		t.Errorf("auth failure reported as a host key problem: %v", err)
	}
	t.Log(err)
}

func TestSSHConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never says a word
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	u := newSSHUnit(t, true)
	cfg := u.config()
	cfg.ConnectTimeout = 300 * time.Millisecond
	d, err := NewDialer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	_, err = d.Dial(context.Background(), Host{Name: "mute", Address: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("want a timeout, got %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("timeout took %s", el)
	}
	t.Log(err)
}

func TestSSHRunExitStatusAndQuoting(t *testing.T) {
	u := newSSHUnit(t, true)
	for _, sudo := range []bool{false, true} {
		cfg := u.config()
		if sudo {
			cfg.User, cfg.Sudo = "admin", true // the test server takes any user; sudo is a fake that checks -n
		}
		c, err := u.dial(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code, err := c.Run(context.Background(), `printf '%s|' "it's" 'a "b"' $((1+2)); echo "${SUDO_USER:-none}"; echo oops >&2; exit 3`, &out, &errb)
		if err != nil || code != 3 {
			t.Fatalf("sudo=%v: exit %d, err %v, stderr %q", sudo, code, err, errb.String())
		}
		want := `it's|a "b"|3|none` + "\n"
		if sudo {
			want = `it's|a "b"|3|test` + "\n"
		}
		if out.String() != want || errb.String() != "oops\n" {
			t.Errorf("sudo=%v: stdout %q want %q, stderr %q", sudo, out.String(), want, errb.String())
		}
	}
}

// TestSSHRunOneWriterForBothStreams: a caller may pass one buffer as stdout and stderr (as
// with 2>&1); the two copiers must not lose each other's output.
func TestSSHRunOneWriterForBothStreams(t *testing.T) {
	u := newSSHUnit(t, true)
	c, err := u.dial(t, u.config())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		var out bytes.Buffer
		if _, err := c.Run(context.Background(), `echo to-stdout; echo to-stderr >&2`, &out, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "to-stdout\n") || !strings.Contains(out.String(), "to-stderr\n") {
			t.Fatalf("run %d: combined output %q lost a stream", i, out.String())
		}
	}
}

func TestSSHRunContextKillsCommand(t *testing.T) {
	u := newSSHUnit(t, true)
	c, err := u.dial(t, u.config())
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, err := c.Run(ctx, fmt.Sprintf("sleep 300 & echo $! > %s; wait", pidFile), nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || code != -1 {
		t.Fatalf("want ctx error, got exit %d err %v", code, err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("Run returned %s after the deadline", el)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(3 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("remote command (pid %d) still running after ctx ended", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// the connection is still usable
	if code, err := c.Run(context.Background(), "true", nil, nil); err != nil || code != 0 {
		t.Fatalf("after cancel: exit %d err %v", code, err)
	}
}

// processAlive: the process exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestSSHUploadDownload(t *testing.T) {
	u := newSSHUnit(t, true)
	c, err := u.dial(t, u.config())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a/b/content.xml")
	data := bytes.Repeat([]byte("<rule-result/>\n"), 100000) // 1.5 MB
	if err := c.Upload(context.Background(), p, bytes.NewReader(data), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("uploaded file: %v %v", st, err)
	}
	var back bytes.Buffer
	if err := c.Download(context.Background(), p, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Bytes(), data) {
		t.Fatalf("round trip: %d bytes back, want %d", back.Len(), len(data))
	}
	err = c.Download(context.Background(), filepath.Join(dir, "missing"), &back)
	if err == nil || !strings.Contains(err.Error(), "download "+filepath.Join(dir, "missing")+" from unit") {
		t.Fatalf("want a clear download error, got %v", err)
	}
	t.Log(err)
}

func TestSSHBastionSharedAndRedialed(t *testing.T) {
	client, priv := newTestSigner(t)
	identity := writeTestIdentity(t, priv)
	bast := startSSHTestServer(t, client.PublicKey())
	targets := make([]*sshTestServer, 5)
	lines := bast.KnownHostsLine() + "\n"
	for i := range targets {
		targets[i] = startSSHTestServer(t, client.PublicKey())
		lines += targets[i].KnownHostsLine() + "\n"
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(lines), 0o600)
	cfg := Config{User: "root", IdentityFiles: []string{identity}, KnownHostsFile: kh,
		Bastion: &BastionConfig{Address: bast.Addr}, ConnectTimeout: 5 * time.Second}
	d, err := NewDialer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dialAll := func() {
		t.Helper()
		for i, ts := range targets {
			c, err := d.Dial(context.Background(), Host{Name: fmt.Sprint("t", i), Address: ts.Addr})
			if err != nil {
				t.Fatal(err)
			}
			if code, err := c.Run(context.Background(), "true", nil, nil); err != nil || code != 0 {
				t.Fatal(code, err)
			}
			if i == 0 {
				c.Close() // closing one target leaves the bastion to the others
			} else {
				defer c.Close()
			}
		}
	}
	dialAll()
	if n := bast.accepted.Load(); n != 1 {
		t.Fatalf("bastion saw %d connections, want 1 shared", n)
	}
	bast.DropConns() // the bastion connection dies: the next dial reconnects
	time.Sleep(50 * time.Millisecond)
	dialAll()
	if n := bast.accepted.Load(); n != 2 {
		t.Fatalf("bastion saw %d connections, want 2 (one redial)", n)
	}
	// a target the bastion cannot reach is that target's error
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_, err = d.Dial(context.Background(), Host{Name: "dead", Address: dead})
	if err == nil || !strings.Contains(err.Error(), "through bastion") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("want a refused forward, got %v", err)
	}
	if n := bast.accepted.Load(); n != 2 {
		t.Fatalf("a refused forward must not redial the bastion (%d connections)", n)
	}
	t.Log(err)
}

func TestSSHAgentKeys(t *testing.T) {
	client, priv := newTestSigner(t)
	srv := startSSHTestServer(t, client.PublicKey())
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600)
	d, err := NewDialer(context.Background(), Config{User: "root", UseAgent: true, KnownHostsFile: kh}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Dial(context.Background(), Host{Address: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// The bastion, as a target, is dialed directly with the targets' user and keys; its forwarding
// is proved on a new bastion connection of its own.
func TestSSHBastionAsTarget(t *testing.T) {
	client, priv := newTestSigner(t)
	identity := writeTestIdentity(t, priv)
	bast := startSSHTestServer(t, client.PublicKey())
	target := startSSHTestServer(t, client.PublicKey())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(bast.KnownHostsLine()+"\n"+target.KnownHostsLine()+"\n"), 0o600)
	cfg := Config{User: "root", IdentityFiles: []string{identity}, KnownHostsFile: kh,
		Bastion: &BastionConfig{Address: bast.Addr, User: "ops"}, ConnectTimeout: 5 * time.Second}
	d, err := NewDialer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, port, _ := net.SplitHostPort(bast.Addr)
	for addr, want := range map[string]bool{bast.Addr: true, "[127.0.0.1]:" + port: true, "[::ffff:127.0.0.1]:" + port: true, target.Addr: false, "127.0.0.1": false} {
		if got := d.IsBastion(Host{Address: addr}); got != want {
			t.Errorf("IsBastion(%s) = %v, want %v", addr, got, want)
		}
	}
	if d.BastionUser() != "ops" {
		t.Errorf("bastion user %q", d.BastionUser())
	}
	c, err := d.Dial(context.Background(), Host{Name: "bastion", Address: bast.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, err := c.Run(context.Background(), "true", nil, nil); err != nil || code != 0 {
		t.Fatal(code, err)
	}
	if a, f := bast.accepted.Load(), bast.forwards.Load(); a != 2 || f != 0 {
		t.Errorf("bastion as a target: %d connections, %d forwards; want 2 (shared + direct), 0", a, f)
	}
	d.forwardProbe = target.Addr // an sshd the bastion reaches (127.0.0.1:22 on a real one)
	if err := d.ProveBastionForwarding(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, f := bast.accepted.Load(), bast.forwards.Load(); a != 3 || f != 1 {
		t.Errorf("forwarding proof: %d connections, %d forwards; want 3 (a new one), 1", a, f)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	d.forwardProbe = ln.Addr().String()
	ln.Close()
	if err := d.ProveBastionForwarding(context.Background()); err == nil || !strings.Contains(err.Error(), "forward to "+d.forwardProbe) {
		t.Errorf("proof to a closed port: %v", err)
	}
}

// Trust on first use never applies to the bastion: every target is reached through it. Its
// key must be in known_hosts or given; a target's key trusted on first use is logged.
func TestSSHBastionNeverTrustedOnFirstUse(t *testing.T) {
	client, priv := newTestSigner(t)
	identity := writeTestIdentity(t, priv)
	bast := startSSHTestServer(t, client.PublicKey())
	target := startSSHTestServer(t, client.PublicKey())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, nil, 0o600)
	cfg := Config{User: "root", IdentityFiles: []string{identity}, KnownHostsFile: kh, TrustOnFirstUse: true,
		Bastion: &BastionConfig{Address: bast.Addr}, ConnectTimeout: 5 * time.Second}

	_, err := NewDialer(context.Background(), cfg, nil)
	var ub *UnknownBastionError
	if !errors.As(err, &ub) || !strings.Contains(err.Error(), "trust on first use never applies to the bastion") {
		t.Fatalf("an unknown bastion with trust on first use: want *UnknownBastionError, got %T: %v", err, err)
	}
	if b, _ := os.ReadFile(kh); len(b) != 0 {
		t.Errorf("the bastion's key was written to known_hosts: %q", b)
	}

	bastKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(bast.HostKey.PublicKey())))
	other, _ := newTestSigner(t)
	cfg.Bastion.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey())))}
	var changed *HostKeyChangedError
	if _, err := NewDialer(context.Background(), cfg, nil); !errors.As(err, &changed) {
		t.Fatalf("a bastion presenting another key than the given one: want *HostKeyChangedError, got %v", err)
	}

	cfg.Bastion.HostKeys = []string{bastKey + " bastion"}
	var logs bytes.Buffer
	d, err := NewDialer(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("the bastion's given key: %v", err)
	}
	defer d.Close()
	c, err := d.Dial(context.Background(), Host{Name: "t", Address: target.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	fp := ssh.FingerprintSHA256(target.HostKey.PublicKey())
	if !strings.Contains(logs.String(), "trusted a host key on first use") || !strings.Contains(logs.String(), fp) {
		t.Errorf("the target's key trusted on first use was not logged with %s:\n%s", fp, logs.String())
	}
	b, _ := os.ReadFile(kh)
	if strings.Contains(string(b), bastKey) || !strings.Contains(string(b), target.KnownHostsLine()) {
		t.Errorf("known_hosts after the dial:\n%s", b)
	}
}

// DialKeys verifies against the console's keys only: the right key passes although
// known_hosts does not have it (and trust on first use is off), a key known_hosts has but
// the console did not print is refused, and no keys refuse the dial.
func TestSSHDialKeysVerifiesAgainstConsoleKeysOnly(t *testing.T) {
	u := newSSHUnit(t, false)
	d, err := NewDialer(context.Background(), u.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := Host{Name: "unit", Address: u.srv.Addr}
	pub := u.srv.HostKey.PublicKey()
	mine := HostKey{Type: pub.Type(), Key: base64.StdEncoding.EncodeToString(pub.Marshal())}
	c, err := d.DialKeys(context.Background(), h, []HostKey{mine})
	if err != nil {
		t.Fatalf("dial with the server's own key: %v", err)
	}
	c.Close()
	if b, _ := os.ReadFile(u.knownHosts); len(b) != 0 {
		t.Errorf("known_hosts written: %q", b)
	}

	// known_hosts has the server's key, the console printed another: refused.
	os.WriteFile(u.knownHosts, []byte(u.srv.KnownHostsLine()+"\n"), 0o600)
	d2, err := NewDialer(context.Background(), u.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	other, _ := newTestSigner(t)
	op := other.PublicKey()
	_, err = d2.DialKeys(context.Background(), h, []HostKey{{Type: op.Type(), Key: base64.StdEncoding.EncodeToString(op.Marshal())}})
	var nc *NotConsoleKeyError
	if !errors.As(err, &nc) || !isHostKeyError(err) {
		t.Fatalf("want *NotConsoleKeyError (a host key problem), got %T: %v", err, err)
	}
	if nc.Got != ssh.FingerprintSHA256(pub) || len(nc.Want) != 1 || nc.Want[0] != ssh.FingerprintSHA256(op) {
		t.Errorf("%+v", nc)
	}
	if _, err := d2.DialKeys(context.Background(), h, nil); err == nil {
		t.Error("DialKeys without keys dialed")
	}
}
