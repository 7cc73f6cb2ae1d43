package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func sshTestLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// 20 targets through one bastion, concurrently, as the non-root admin with sudo.
func TestIntegrationSSHFleetThroughBastion(t *testing.T) {
	sshIntegration(t)
	bed := startSSHBed(t, 21, 20)
	ctx := context.Background()
	start := time.Now()
	d, err := NewDialer(ctx, bed.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	payload := make([]byte, 3<<20)
	rand.Read(payload)
	var wg sync.WaitGroup
	errs := make([]error, len(bed.hosts))
	for i, h := range bed.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				c, err := d.Dial(ctx, h)
				if err != nil {
					return err
				}
				defer c.Close()
				var out bytes.Buffer
				if code, err := c.Run(ctx, "hostname; id -u", &out, os.Stderr); err != nil || code != 0 {
					return fmt.Errorf("run: exit %d, %v", code, err)
				}
				if got, want := out.String(), h.Name+"\n0\n"; got != want {
					return fmt.Errorf("hostname; id -u: %q, want %q (sudo to root)", got, want)
				}
				p := fmt.Sprintf("/tmp/hardenctl-sshtest/%s/sub/payload.bin", h.Name)
				if err := c.Upload(ctx, p, bytes.NewReader(payload), 0o600); err != nil {
					return err
				}
				out.Reset()
				if code, err := c.Run(ctx, "stat -c '%a %U' "+p+" && sha256sum < "+p, &out, os.Stderr); err != nil || code != 0 {
					return fmt.Errorf("stat: exit %d %v", code, err)
				}
				if !strings.HasPrefix(out.String(), "600 hardenctl\n") {
					return fmt.Errorf("uploaded file: %q", out.String())
				}
				var back bytes.Buffer
				if err := c.Download(ctx, p, &back); err != nil {
					return err
				}
				if !bytes.Equal(back.Bytes(), payload) {
					return fmt.Errorf("download: %d bytes differ from the %d uploaded", back.Len(), len(payload))
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", bed.hosts[i].Name, err)
		}
	}
	t.Logf("20 hosts: connect, sudo commands, 3 MB upload+download each, through one bastion: %s",
		time.Since(start).Round(time.Millisecond))

	// one bastion connection served them all: the bastion's sshd has one established client
	out := bed.script(t, "exec", "bastion", "ss", "-Htn", "state", "established", "( sport = :22 )")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || lines[0] == "" {
		t.Errorf("bastion has these SSH connections, want exactly one:\n%s", out)
	}
}

// A rekeyed host is refused with HostKeyChangedError, a host whose sshd is gone gives a clear
// error of its own, an unknown host is UnknownHostError, and the other hosts work.
func TestIntegrationSSHHostFaults(t *testing.T) {
	sshIntegration(t)
	bed := startSSHBed(t, 22, 5)
	bed.script(t, "rekey", "h02")
	bed.script(t, "stop-sshd", "h03")
	// h05 left out of known_hosts: unknown
	kh, err := os.ReadFile(bed.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(kh)), "\n") {
		if !strings.HasPrefix(l, bed.hosts[4].Address+" ") {
			keep = append(keep, l)
		}
	}
	cfg := bed.config()
	cfg.KnownHostsFile = t.TempDir() + "/known_hosts"
	os.WriteFile(cfg.KnownHostsFile, []byte(strings.Join(keep, "\n")+"\n"), 0o600)

	ctx := context.Background()
	d, err := NewDialer(ctx, cfg, sshTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	results := make([]error, len(bed.hosts))
	var wg sync.WaitGroup
	for i, h := range bed.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Dial(ctx, h)
			if err == nil {
				var out bytes.Buffer
				_, err = c.Run(ctx, "hostname", &out, nil)
				c.Close()
			}
			results[i] = err
		}()
	}
	wg.Wait()
	for i, err := range results {
		t.Logf("%s: %v", bed.hosts[i].Name, err)
	}
	if results[0] != nil || results[3] != nil {
		t.Errorf("healthy hosts failed: h01 %v, h04 %v", results[0], results[3])
	}
	var changed *HostKeyChangedError
	if !errors.As(results[1], &changed) || changed.Host != bed.hosts[1].Address {
		t.Errorf("h02 (rekeyed): want *HostKeyChangedError for %s, got %v", bed.hosts[1].Address, results[1])
	}
	if e := results[2]; e == nil || !strings.Contains(e.Error(), "h03") || !strings.Contains(e.Error(), "refused") ||
		isHostKeyError(e) {
		t.Errorf("h03 (sshd stopped): want a connection refused error naming the host, got %v", e)
	}
	var unknown *UnknownHostError
	if !errors.As(results[4], &unknown) {
		t.Errorf("h05 (not in known_hosts): want *UnknownHostError, got %v", results[4])
	}

	// with trust on first use, h05 is learnt and written; the rekeyed h02 is still refused
	cfg.TrustOnFirstUse = true
	d2, err := NewDialer(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if c, err := d2.Dial(ctx, bed.hosts[4]); err != nil {
		t.Errorf("h05 with trust on first use: %v", err)
	} else {
		c.Close()
	}
	if _, err := d2.Dial(ctx, bed.hosts[1]); !errors.As(err, &changed) {
		t.Errorf("h02 with trust on first use: want *HostKeyChangedError, got %v", err)
	}
	b, _ := os.ReadFile(cfg.KnownHostsFile)
	if !strings.Contains(string(b), "\n"+bed.hosts[4].Address+" ssh-ed25519 ") {
		t.Errorf("h05 not written to known_hosts:\n%s", b)
	}
}

// The test bed's network and safety: the bastion does not route, targets cannot reach the
// machine, and a host cannot change global kernel settings.
func TestIntegrationTesthostsIsolation(t *testing.T) {
	sshIntegration(t)
	bed := startSSHBed(t, 23, 2)
	if out := strings.TrimSpace(bed.script(t, "exec", "bastion", "cat", "/proc/sys/net/ipv4/ip_forward")); out != "0" {
		t.Errorf("bastion ip_forward = %q, want 0", out)
	}
	machine := fmt.Sprintf("10.251.%d.1", bed.instance)
	if out, err := sshBedScript(t, bed.instance, "hosts.sh", "exec", "h01", "ip", "route", "get", machine); err == nil {
		t.Errorf("h01 has a route to the machine (%s): %s", machine, out)
	}
	if out, err := sshBedScript(t, bed.instance, "hosts.sh", "exec", "h01", "sysctl", "-w", "kernel.pid_max=65536"); err == nil {
		t.Errorf("h01 could change a global sysctl: %s", out)
	}
	d, err := NewDialer(context.Background(), bed.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// and through SSH, as root via sudo, remediation-style changes stay inside
	c, err := d.Dial(context.Background(), bed.hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	code, err := c.Run(context.Background(), "sysctl -w kernel.sysrq=0 fs.suid_dumpable=0; mount -o remount,rw /proc/sys", &out, &out)
	if err != nil || code == 0 {
		t.Errorf("global changes inside a host: exit %d err %v: %s", code, err, out.String())
	}
}

// When ctx ends, the remote command is killed on the host, through sudo (the session's
// own process cannot signal root's processes) and through the bastion.
func TestIntegrationSSHContextKillsRemoteCommand(t *testing.T) {
	sshIntegration(t)
	bed := startSSHBed(t, 25, 1)
	d, err := NewDialer(context.Background(), bed.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Dial(context.Background(), bed.hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	code, err := c.Run(ctx, "sleep 4242 & sleep 4343; wait", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got exit %d, %v", code, err)
	}
	t.Logf("Run returned %s after start", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := sshBedScript(t, bed.instance, "hosts.sh", "exec", "h01", "ps", "-eo", "user,args")
		if !strings.Contains(out, "sleep 4242") && !strings.Contains(out, "sleep 4343") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote commands still running after ctx ended:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// the connection survives for the next command
	var out bytes.Buffer
	if code, err := c.Run(context.Background(), "id -un", &out, nil); err != nil || code != 0 || out.String() != "root\n" {
		t.Fatalf("after cancel: exit %d, %v, %q", code, err, out.String())
	}
}

// A host whose sshd hangs (TCP accepted through the bastion, no SSH banner) fails on its own
// connect timeout; the others connect.
func TestIntegrationSSHConnectTimeoutPerHost(t *testing.T) {
	sshIntegration(t)
	bed := startSSHBed(t, 28, 3)
	bed.script(t, "freeze", "h02")
	cfg := bed.config()
	cfg.ConnectTimeout = 2 * time.Second
	d, err := NewDialer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	errs := make([]error, len(bed.hosts))
	took := make([]time.Duration, len(bed.hosts))
	var wg sync.WaitGroup
	for i, h := range bed.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			c, err := d.Dial(context.Background(), h)
			if err == nil {
				c.Close()
			}
			errs[i], took[i] = err, time.Since(start)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		t.Logf("%s: %s: %v", bed.hosts[i].Name, took[i].Round(time.Millisecond), err)
	}
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("healthy hosts: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "timed out") || took[1] > 5*time.Second {
		t.Errorf("frozen h02: want a timeout after about 2 s, got %v after %s", errs[1], took[1])
	}
	bed.script(t, "thaw", "h02")
}
