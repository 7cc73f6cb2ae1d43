package hardening

import (
	"bufio"
	"context"
	"fmt"
	"github.com/hardenctl/hardenctl/internal/shell"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The integration tests run against the namespace test hosts of scripts/testhosts/hosts.sh,
// each test on its own instance (HC_INSTANCE) so they can run beside other suites.

func integration(t testing.TB) {
	t.Helper()
	if os.Getenv("HARDENCTL_INTEGRATION") != "1" {
		t.Skip("HARDENCTL_INTEGRATION=1 not set")
	}
	if _, err := os.Stat(filepath.Join(testHostsDir(), "root/usr/sbin/sshd")); err != nil {
		t.Skipf("no test host root (run scripts/testhosts/prepare.sh): %v", err)
	}
}

func testHostsDir() string {
	if d := os.Getenv("TESTHOSTS"); d != "" {
		return d
	}
	return "/tmp/hardenctl-testhosts"
}

// testbed is one running hosts.sh instance.
type testbed struct {
	instance int
	run      string // $TESTHOSTS/run-I
	hosts    []Host
	bastion  string
	key      string
}

func hostsScript() string {
	p, _ := filepath.Abs("../scripts/testhosts/hosts.sh")
	return p
}

// startTestbed brings up n targets and the bastion as instance i; they are stopped when the
// test ends.
func startTestbed(t testing.TB, instance, n int) *testbed {
	t.Helper()
	tb := &testbed{instance: instance, run: fmt.Sprintf("%s/run-%d", testHostsDir(), instance), key: testHostsDir() + "/keys/id_ed25519"}
	start := time.Now()
	if out, err := tb.script("up", fmt.Sprint(n)); err != nil {
		t.Fatalf("hosts.sh up %d: %v\n%s", n, err, out)
	}
	t.Logf("test bed instance %d: %d hosts up in %s", instance, n, time.Since(start).Round(10*time.Millisecond))
	t.Cleanup(func() {
		if out, err := tb.script("down"); err != nil {
			t.Errorf("hosts.sh down: %v\n%s", err, out)
		}
	})
	tb.hosts, tb.bastion = readRunDir(t, tb.run)
	return tb
}

// readRunDir reads what hosts.sh up wrote into an instance's run directory: the targets
// (hosts.txt, "NAME ADDRESS" lines) and the bastion's address (bastion.txt).
func readRunDir(t testing.TB, run string) ([]Host, string) {
	t.Helper()
	f, err := os.Open(run + "/hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hosts []Host
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, addr, _ := strings.Cut(sc.Text(), " ")
		hosts = append(hosts, Host{Name: name, Address: addr})
	}
	b, err := os.ReadFile(run + "/bastion.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, bastion, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	return hosts, bastion
}

func (tb *testbed) script(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{hostsScript()}, args...)...)
	cmd.WaitDelay = 5 * time.Second // a host process that kept our pipe must not hang the test
	cmd.Env = append(os.Environ(), fmt.Sprintf("HC_INSTANCE=%d", tb.instance), "TESTHOSTS="+testHostsDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// exec runs a command inside a host (nsenter), bypassing SSH.
func (tb *testbed) exec(t testing.TB, host string, args ...string) string {
	t.Helper()
	out, err := tb.script(append([]string{"exec", host}, args...)...)
	if err != nil {
		t.Fatalf("hosts.sh exec %s %v: %v\n%s", host, args, err, out)
	}
	return out
}

// opensshDialer reaches the hosts with the OpenSSH client and the test bed's ssh_config
// (ProxyJump through the bastion, StrictHostKeyChecking yes). It is the reference transport
// the Go SSH layer is compared with, and lets the runner be tested on real hosts by itself.
type opensshDialer struct {
	config string
	user   string
}

func (d opensshDialer) Dial(ctx context.Context, h Host) (Conn, error) {
	c := &opensshConn{d: d, addr: h.Address}
	if _, err := c.Run(ctx, "true", io.Discard, io.Discard); err != nil {
		return nil, err
	}
	return c, nil
}

type opensshConn struct {
	d    opensshDialer
	addr string
}

func (c *opensshConn) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	if c.d.user != "" && c.d.user != "root" {
		cmd = "sudo -n sh -c " + shell.Quote(cmd)
	}
	user := c.d.user
	if user == "" {
		user = "root"
	}
	var errBuf tailBuffer
	x := exec.CommandContext(ctx, "ssh", "-F", c.d.config, "-o", "ControlMaster=no", user+"@"+c.addr, cmd)
	x.Stdout, x.Stderr = stdout, io.MultiWriter(stderr, &errBuf)
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	x.Cancel = func() error { return syscall.Kill(-x.Process.Pid, syscall.SIGKILL) }
	err := x.Run()
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ee.ExitCode() == 255 {
			return -1, fmt.Errorf("ssh %s: %s", c.addr, errBuf.String())
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

func (c *opensshConn) Upload(ctx context.Context, path string, r io.Reader, mode uint32) error {
	x := exec.CommandContext(ctx, "ssh", "-F", c.d.config, "-o", "ControlMaster=no", c.d.userAt()+c.addr,
		fmt.Sprintf("umask 077 && cat > %s && chmod %o %s", shell.Quote(path), mode, shell.Quote(path)))
	x.Stdin = r
	if out, err := x.CombinedOutput(); err != nil {
		return fmt.Errorf("upload %s: %v: %s", path, err, out)
	}
	return nil
}

func (c *opensshConn) Download(ctx context.Context, path string, w io.Writer) error {
	var errBuf tailBuffer
	x := exec.CommandContext(ctx, "ssh", "-F", c.d.config, "-o", "ControlMaster=no", c.d.userAt()+c.addr, "cat "+shell.Quote(path))
	x.Stdout, x.Stderr = w, &errBuf
	if err := x.Run(); err != nil {
		return fmt.Errorf("download %s: %v: %s", path, err, errBuf.String())
	}
	return nil
}

func (c *opensshConn) Close() error { return nil }

func (d opensshDialer) userAt() string {
	if d.user == "" {
		return "root@"
	}
	return d.user + "@"
}
