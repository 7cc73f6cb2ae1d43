package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/hardening"
)

func TestReadHosts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(file, []byte("# fleet\nweb1=10.0.0.1\n\n10.0.0.2:2222  # by address\n"), 0o644)
	hosts, err := readHosts([]string{"db=db.internal"}, file)
	if err != nil {
		t.Fatal(err)
	}
	want := []hardening.Host{{Name: "db", Address: "db.internal"}, {Name: "web1", Address: "10.0.0.1"}, {Name: "10.0.0.2:2222", Address: "10.0.0.2:2222"}}
	if fmt.Sprint(hosts) != fmt.Sprint(want) {
		t.Errorf("hosts %v, want %v", hosts, want)
	}
	if _, err := readHosts([]string{"a=1", "a=2"}, ""); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := readHosts([]string{"a="}, ""); err == nil {
		t.Error("empty address: no error")
	}
}

type refusingDialer struct{}

func (refusingDialer) Dial(ctx context.Context, h hardening.Host) (hardening.Conn, error) {
	return nil, errors.New("dial tcp " + h.Address + ": connection refused")
}

func TestScanUnreachableHosts(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	os.Mkdir(content, 0o755)
	os.WriteFile(filepath.Join(content, "ssg-debian12-ds.xml"), []byte("<ds/>"), 0o644)
	var out bytes.Buffer
	errOut := &lockedBuffer{} // the log and the progress share it, as they share stderr
	g := &globals{stdout: &out, stderr: errOut, logger: slog.New(slog.NewTextHandler(errOut, nil))}
	o := scanOptions{hosts: []string{"a=10.0.0.1", "b=10.0.0.2"}, contentDir: content, profile: "standard", minScore: -1,
		concurrency: 2, reportDir: filepath.Join(dir, "reports"), json: true, junit: filepath.Join(dir, "junit.xml")}
	err := runOscap(context.Background(), g, o, func(context.Context, *globals, scanOptions) (hardening.Dialer, func() error, error) {
		return refusingDialer{}, func() error { return nil }, nil
	})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitHostFailed {
		t.Fatalf("err = %v, want exit %d", err, exitHostFailed)
	}
	var sum hardening.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("-json output: %v\n%s", err, out.String())
	}
	if len(sum.Hosts) != 2 || sum.Hosts[1].Status != hardening.StatusUnreachable || sum.Passed {
		t.Errorf("summary %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(sum.RunDir, "summary.json")); err != nil {
		t.Error(err)
	}
	if b, _ := os.ReadFile(o.junit); !bytes.Contains(b, []byte(`<testsuite name="a"`)) {
		t.Errorf("junit:\n%s", b)
	}
	if !strings.Contains(errOut.String(), "host b: scan failed (unreachable) after") {
		t.Errorf("progress on stderr:\n%s", errOut.String())
	}
}

// diskFullDialer reaches a Debian 12 host whose disk is full: the probe answers, every upload
// fails, so a host's result says which datastream and SCAP profile it was to be judged by.
type diskFullDialer struct{}

func (diskFullDialer) Dial(ctx context.Context, h hardening.Host) (hardening.Conn, error) {
	return diskFullConn{}, nil
}

type diskFullConn struct{}

func (diskFullConn) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	if strings.HasPrefix(cmd, "cat /etc/os-release") {
		io.WriteString(stdout, "ID=debian\nVERSION_ID=\"12\"\n@@hardenctl-dir=/tmp/hardenctl.abcdef\n")
	}
	return 0, nil
}
func (diskFullConn) Upload(context.Context, string, io.Reader, uint32) error {
	return errors.New("sftp: no space left on device")
}
func (diskFullConn) Download(context.Context, string, io.Writer) error { return os.ErrNotExist }
func (diskFullConn) Close() error                                      { return nil }

// Which SCAP profile a host is judged by: the hardenctl profile's, the one of --tailoring that
// extends it, or --scap-profile's.
func TestScanSCAPProfileChoice(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	os.Mkdir(content, 0o755)
	os.WriteFile(filepath.Join(content, "ssg-debian12-ds.xml"), []byte("<ds/>"), 0o644)
	tailoring := filepath.Join(dir, "tailoring.xml")
	os.WriteFile(tailoring, []byte(`<Tailoring xmlns="http://checklists.nist.gov/xccdf/1.2" id="t">`+
		`<Profile id="site_standard" extends="xccdf_org.ssgproject.content_profile_standard"/>`+
		`<Profile id="site_strict" extends="xccdf_org.ssgproject.content_profile_anssi_bp28_high"/></Tailoring>`), 0o644)
	for _, tc := range []struct {
		name                string
		tailoring, scapFlag string
		want                string
	}{
		{"profile", "", "", "xccdf_org.ssgproject.content_profile_standard"},
		{"tailoring", tailoring, "", "site_standard"},
		{"scap-profile", tailoring, "site_strict", "site_strict"},
	} {
		var out, errOut bytes.Buffer
		g := &globals{stdout: &out, stderr: &errOut, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		o := scanOptions{hosts: []string{"a=10.0.0.1"}, contentDir: content, profile: "standard", minScore: -1, concurrency: 1,
			reportDir: filepath.Join(dir, "reports"), json: true, tailoring: tc.tailoring, scapProfile: tc.scapFlag}
		runOscap(context.Background(), g, o, func(context.Context, *globals, scanOptions) (hardening.Dialer, func() error, error) {
			return diskFullDialer{}, func() error { return nil }, nil
		})
		var sum hardening.Summary
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil || len(sum.Hosts) != 1 {
			t.Fatalf("%s: -json output: %v\n%s\n%s", tc.name, err, out.String(), errOut.String())
		}
		if h := sum.Hosts[0]; h.SCAPProfile != tc.want || !strings.Contains(h.Error, "no space left") {
			t.Errorf("%s: SCAP profile %q (error %q), want %q", tc.name, h.SCAPProfile, h.Error, tc.want)
		}
	}
}

// scan and harden take use_agent, connect_timeout and the bastion's host_keys from the
// configuration, as image builds do; flags still win.
func TestScanSSHFromConfig(t *testing.T) {
	dir := t.TempDir()
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpWtDsDf+mzCzHXZ1Au5Hp84mXzvX2M9WKCwqKf0c5n bastion"
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(`name = "s"
ssh {
  user            = "ops"
  identity_files  = ["/dev/null"]
  use_agent       = false
  connect_timeout = "3s"
}
bastion {
  allow_from = ["198.51.100.0/24"]
  address    = "192.0.2.1"
  host_keys  = ["`+key+`"]
}
`), 0o644)
	t.Setenv("SSH_AUTH_SOCK", "/nonexistent/agent")
	g := &globals{configPath: dir, stderr: io.Discard, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var o scanOptions
	if err := o.fromConfig(g, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	sc, err := o.sshConfig()
	if err != nil {
		t.Fatal(err)
	}
	if sc.UseAgent || sc.ConnectTimeout != 3*time.Second || sc.User != "ops" || sc.Bastion == nil ||
		sc.Bastion.Address != "192.0.2.1:22" || len(sc.Bastion.HostKeys) != 1 || sc.Bastion.HostKeys[0] != key {
		t.Errorf("ssh settings from the configuration: %+v (bastion %+v)", sc, sc.Bastion)
	}
	// --bastion names another bastion: the configuration's keys are not its keys.
	o = scanOptions{}
	if err := o.fromConfig(g, func(f string) bool { return f == "bastion" }); err != nil {
		t.Fatal(err)
	}
	o.bastion = "198.51.100.9"
	if sc, _ := o.sshConfig(); len(sc.Bastion.HostKeys) != 0 {
		t.Errorf("the configuration's bastion keys were given to --bastion's bastion")
	}
}
