package health

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/remote"
	"github.com/hardenctl/hardenctl/rollout"
)

// keyBlock is a console's key blocks for one ed25519 key, as server.sh prints them.
func keyBlock(t *testing.T) (remote.HostKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// the SSH wire form of an ed25519 key: string "ssh-ed25519", string key
	wire := append(sshString("ssh-ed25519"), sshString(string(pub))...)
	k := remote.HostKey{Type: "ssh-ed25519", Key: base64.StdEncoding.EncodeToString(wire)}
	sum := sha256.Sum256(wire)
	fp := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	return k, fmt.Sprintf("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 %s root@x (ED25519)\n-----END SSH HOST KEY FINGERPRINTS-----\n"+
		"-----BEGIN SSH HOST KEY KEYS-----\n%s %s root@x\n-----END SSH HOST KEY KEYS-----\n", fp, k.Type, k.Key)
}

func sshString(s string) []byte {
	n := len(s)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, s...)
}

func boot(at time.Time) string {
	return "[hardenctl-virt] booting fl-web-01 (" + at.UTC().Format(time.RFC3339) + ")\n"
}

func TestKeysSince(t *testing.T) {
	oldKey, oldBlock := keyBlock(t)
	newKey, newBlock := keyBlock(t)
	decided := time.Date(2026, 12, 2, 10, 0, 0, 500e6, time.UTC)
	before, after := decided.Add(-time.Hour), decided.Add(2*time.Second)
	ciBoot := func(at time.Time) string {
		return "Cloud-init v. 23.1.1 running 'modules:final' at " + at.Format(time.RFC1123Z) + ". Up 3.47 seconds.\n"
	}
	for _, tc := range []struct {
		name    string
		console string
		since   time.Time
		want    *remote.HostKey // nil: no keys yet
	}{
		{"fresh console after the rebuild (the test bed deletes the log)", boot(after) + newBlock, decided, &newKey},
		{"old log kept, new boot printed its keys", boot(before) + oldBlock + boot(after) + newBlock, decided, &newKey},
		{"old log kept, new boot has no keys yet", boot(before) + oldBlock + boot(after) + "[hardenctl-virt] sshd starting\n", decided, nil},
		{"only the old boot", boot(before) + oldBlock, decided, nil},
		{"marker within the skew (whole seconds)", boot(decided.Truncate(time.Second)) + newBlock, decided, &newKey},
		{"cloud-init markers", ciBoot(before) + oldBlock + ciBoot(after) + newBlock, decided, &newKey},
		{"cloud-init, old only", ciBoot(before) + oldBlock, decided, nil},
		{"resumed: since unknown, the last block", boot(before) + oldBlock + boot(after) + newBlock, time.Time{}, &newKey},
		{"no markers: the last block", oldBlock + newBlock, decided, &newKey},
		{"CRLF console", strings.ReplaceAll(boot(before)+oldBlock+boot(after)+newBlock, "\n", "\r\n"), decided, &newKey},
		{"nothing printed yet", "", decided, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KeysSince(tc.console, tc.since, DefaultSkew)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == nil && len(got) != 0:
				t.Errorf("got keys %v, want none yet", got)
			case tc.want != nil && (len(got) != 1 || got[0] != *tc.want):
				t.Errorf("got %v, want %v (old key %v)", got, *tc.want, oldKey)
			}
		})
	}
}

type fakeConsole struct {
	mu  sync.Mutex
	out map[string]string
}

func (c *fakeConsole) ConsoleOutput(_ context.Context, id string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, ok := c.out[id]
	if !ok {
		return "", errors.New("no such server")
	}
	return out, nil
}

// fakeSSH accepts a dial when the keys given include the server's real key.
type fakeSSH struct {
	real  map[string]remote.HostKey // address: the key the server presents
	conns []*fakeConn
	run   func(cmd string) (string, int)
}

func (d *fakeSSH) DialKeys(_ context.Context, h hardening.Host, keys []remote.HostKey) (hardening.Conn, error) {
	for _, k := range keys {
		if k == d.real[h.Address] {
			c := &fakeConn{run: d.run}
			d.conns = append(d.conns, c)
			return c, nil
		}
	}
	return nil, &remote.NotConsoleKeyError{Host: h.Address}
}

type fakeConn struct {
	mu     sync.Mutex
	cmds   []string
	closed bool
	run    func(cmd string) (string, int)
}

func (c *fakeConn) Run(_ context.Context, cmd string, stdout, _ io.Writer) (int, error) {
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd)
	c.mu.Unlock()
	out, exit := c.run(cmd)
	io.WriteString(stdout, out)
	return exit, nil
}
func (c *fakeConn) Upload(context.Context, string, io.Reader, uint32) error { return nil }
func (c *fakeConn) Download(context.Context, string, io.Writer) error       { return nil }
func (c *fakeConn) Close() error                                            { c.closed = true; return nil }

func TestConnectUsesOnlyTheNewKeys(t *testing.T) {
	oldKey, oldBlock := keyBlock(t)
	newKey, newBlock := keyBlock(t)
	decided := time.Now().UTC()
	srv := rollout.Server{ID: "s1", Name: "fl-web-01", Address: "10.252.1.5"}
	con := &fakeConsole{out: map[string]string{"s1": boot(decided.Add(-time.Hour)) + oldBlock}}
	ssh := &fakeSSH{real: map[string]remote.HostKey{"10.252.1.5": newKey}, run: func(string) (string, int) { return "", 0 }}
	g := &Gate{Console: con, SSH: ssh}

	// The console still shows the old system: no keys yet, the engine tries again.
	if _, err := g.Connect(context.Background(), srv, decided); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("old console: want ErrNoKeys, got %v", err)
	}
	// A rogue server presenting the old key is refused: the gate never dials with it.
	ssh.real["10.252.1.5"] = oldKey
	con.out["s1"] += boot(decided.Add(time.Second)) + newBlock
	if _, err := g.Connect(context.Background(), srv, decided); err == nil {
		t.Fatal("a server presenting the old key passed the gate")
	}
	ssh.real["10.252.1.5"] = newKey
	sess, err := g.Connect(context.Background(), srv, decided)
	if err != nil {
		t.Fatal(err)
	}
	sess.Close()
	if !ssh.conns[0].closed {
		t.Error("Close did not close the connection")
	}
	if _, err := g.Connect(context.Background(), rollout.Server{ID: "s1", Name: "x"}, decided); err == nil {
		t.Error("a server without an address connected")
	}
}

func TestTCPAndProbe(t *testing.T) {
	key, block := keyBlock(t)
	srv := rollout.Server{ID: "s1", Name: "fl-web-01", Address: "10.252.1.5"}
	open := map[string]bool{"22": true}
	ssh := &fakeSSH{real: map[string]remote.HostKey{"10.252.1.5": key}, run: func(cmd string) (string, int) {
		f := strings.Fields(cmd)
		// ... tcp 'PORT' '10.252.1.5'
		for i, w := range f {
			if w == "tcp" && i+1 < len(f) && open[strings.Trim(f[i+1], "'")] {
				return "accepted on 127.0.0.1", 0
			}
		}
		return "", 1
	}}
	g := &Gate{Console: &fakeConsole{out: map[string]string{"s1": block}}, SSH: ssh}
	sess, err := g.Connect(context.Background(), srv, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.TCP(context.Background(), 22); err != nil {
		t.Errorf("port 22: %v", err)
	}
	if err := sess.TCP(context.Background(), 8443); err == nil || !strings.Contains(err.Error(), "8443") {
		t.Errorf("port 8443: %v", err)
	}
	if cmd := ssh.conns[0].cmds[0]; !strings.Contains(cmd, "/dev/tcp") || !strings.HasSuffix(cmd, " tcp 22 10.252.1.5") {
		t.Errorf("probe command %q does not connect from inside to the server's own address too", cmd)
	}
	h := config.Health{SSH: true, TCP: []int{22}}
	if err := g.Probe(context.Background(), srv, h); err != nil {
		t.Errorf("probe: %v", err)
	}
	h.TCP = []int{22, 8443}
	if err := g.Probe(context.Background(), srv, h); err == nil {
		t.Error("probe passed with port 8443 closed")
	}
	if err := g.Probe(context.Background(), rollout.Server{ID: "gone"}, config.Health{}); err != nil {
		t.Errorf("probe without ssh checks: %v", err)
	}
}

// The scan runs on the gate's own session (the scanner dials nothing, and does not close
// it); a host where it cannot run is an error, not a score.
func TestScanRunsOnTheGateSession(t *testing.T) {
	key, block := keyBlock(t)
	srv := rollout.Server{ID: "s1", Name: "fl-web-01", Address: "10.252.1.5"}
	ssh := &fakeSSH{real: map[string]remote.HostKey{"10.252.1.5": key}, run: func(string) (string, int) { return "", 127 }}
	g := &Gate{Console: &fakeConsole{out: map[string]string{"s1": block}}, SSH: ssh}
	sess, err := g.Connect(context.Background(), srv, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sess.Scan(context.Background())
	if err == nil {
		t.Fatal("a scan that could not run gave a score")
	}
	c := ssh.conns[0]
	if len(ssh.conns) != 1 || len(c.cmds) == 0 {
		t.Fatalf("the scan did not run on the gate's session: %d conns, %d commands", len(ssh.conns), len(c.cmds))
	}
	if c.closed {
		t.Error("the scanner closed the gate's session")
	}
	t.Log(err)
}
