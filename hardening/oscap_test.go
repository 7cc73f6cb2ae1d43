package hardening

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/remote"
)

const debian12 = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n"

// fakeHost is a scripted target: it answers the runner's commands and keeps uploaded files.
type fakeHost struct {
	osRelease string
	noOscap   bool
	oscapExit int    // exit code of oscap xccdf eval
	oscapErr  string // its stderr
	hang      bool   // oscap never returns until ctx ends
	arf       []byte // ARF to write (default: the mini fixture)
	other     func(cmd string) (stdout string, exit int)
	dialErr   error
	delay     time.Duration // how long oscap takes
	corrupt   bool          // uploads of .gz files arrive with one byte changed
	gauges    *fleetGauges  // shared by a fleet's hosts (optional)
	dialDelay time.Duration // how long connecting takes

	mu       sync.Mutex
	files    map[string][]byte
	commands []string
	removed  []string
	open     int
}

func (f *fakeHost) record(cmd string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, cmd)
}

type fakeConn struct{ h *fakeHost }

func (c fakeConn) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	h := c.h
	h.record(cmd)
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	switch {
	case cmd == probeCommand:
		io.WriteString(stdout, h.osRelease)
		if h.noOscap {
			return probeNoOscap, nil
		}
		io.WriteString(stdout, probeDirMarker+"/tmp/hardenctl.AbC123\n")
	case strings.HasPrefix(cmd, "command -v gzip"):
		// gzip -d P.gz: unpacks, checks the CRC, removes P.gz
		f := strings.Fields(cmd)
		p := f[len(f)-1]
		p = p[:len(p)-len(".gz")]
		h.mu.Lock()
		defer h.mu.Unlock()
		zr, err := gzip.NewReader(bytes.NewReader(h.files[p+".gz"]))
		if err != nil {
			io.WriteString(stderr, "gzip: "+err.Error())
			return 1, nil
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			io.WriteString(stderr, "gzip: "+err.Error())
			return 1, nil
		}
		h.files[p] = data
		delete(h.files, p+".gz")
	case strings.HasPrefix(cmd, "sha256sum "):
		p := strings.TrimPrefix(cmd, "sha256sum ")
		h.mu.Lock()
		sum := sha256.Sum256(h.files[p])
		h.mu.Unlock()
		fmt.Fprintf(stdout, "%s  %s\n", hex.EncodeToString(sum[:]), p)
	case strings.Contains(cmd, "oscap xccdf eval"):
		if h.hang {
			<-ctx.Done()
			return -1, ctx.Err()
		}
		if h.gauges != nil {
			h.gauges.oscap.up()
			defer h.gauges.oscap.down()
		}
		select {
		case <-time.After(h.delay):
		case <-ctx.Done():
			return -1, ctx.Err()
		}
		if h.oscapExit == 0 || h.oscapExit == 2 {
			arf := h.arf
			if arf == nil {
				arf, _ = os.ReadFile("testdata/xccdf/mini-arf.xml")
			}
			files := map[string][]byte{"arf.xml": arf, "report.html": []byte("<html/>")}
			h.mu.Lock()
			for name, data := range files {
				if strings.Contains(cmd, "gzip -1") {
					var z bytes.Buffer
					zw := gzip.NewWriter(&z)
					zw.Write(data)
					zw.Close()
					name, data = name+".gz", z.Bytes()
				}
				h.files["/tmp/hardenctl.AbC123/"+name] = data
			}
			h.mu.Unlock()
		}
		io.WriteString(stderr, h.oscapErr)
		return h.oscapExit, nil
	case strings.HasPrefix(cmd, "rm -rf -- "):
		h.mu.Lock()
		h.removed = append(h.removed, strings.TrimPrefix(cmd, "rm -rf -- "))
		h.mu.Unlock()
	default:
		if h.other != nil {
			out, exit := h.other(cmd)
			io.WriteString(stdout, out)
			return exit, nil
		}
	}
	return 0, nil
}

func (c fakeConn) Upload(ctx context.Context, path string, r io.Reader, mode uint32) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if c.h.corrupt && strings.HasSuffix(path, ".gz") {
		b[len(b)/2] ^= 0x40
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.files[path] = b
	return nil
}

func (c fakeConn) Download(ctx context.Context, path string, w io.Writer) error {
	c.h.mu.Lock()
	b, ok := c.h.files[path]
	c.h.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s: file does not exist", path)
	}
	_, err := w.Write(b)
	return err
}

func (c fakeConn) Close() error {
	if c.h.gauges != nil {
		c.h.gauges.conns.down()
	}
	c.h.mu.Lock()
	c.h.open--
	c.h.mu.Unlock()
	return nil
}

type fakeDialer map[string]*fakeHost

func (d fakeDialer) Dial(ctx context.Context, h Host) (Conn, error) {
	fh, ok := d[h.Address]
	if !ok {
		return nil, fmt.Errorf("dial %s: connection refused", h.Address)
	}
	if fh.dialErr != nil {
		return nil, fh.dialErr
	}
	if fh.gauges != nil {
		fh.gauges.dials.up()
		time.Sleep(fh.dialDelay)
		fh.gauges.dials.down()
		fh.gauges.conns.up()
	}
	fh.mu.Lock()
	defer fh.mu.Unlock()
	if fh.files == nil {
		fh.files = map[string][]byte{}
	}
	fh.open++
	return fakeConn{fh}, nil
}

var _ Dialer = fakeDialer(nil)

func testContent(t *testing.T) Datastreams {
	t.Helper()
	ds, err := Content{Dir: "testdata/xccdf"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	// The fixture is not named after an OS; serve it as Debian 12's.
	d, err := ds.Named("mini-ds.xml")
	if err != nil {
		t.Fatal(err)
	}
	d.Name = "ssg-debian12-ds.xml"
	return Datastreams{d}
}

func TestScannerOutcomes(t *testing.T) {
	std, _ := profiles.Builtin("standard")
	hosts := fakeDialer{
		"10.0.0.1": {osRelease: debian12, oscapExit: 2},
		"10.0.0.2": {osRelease: debian12, noOscap: true},
		"10.0.0.3": {osRelease: debian12, hang: true},
		"10.0.0.4": {osRelease: debian12, oscapExit: 1, oscapErr: "OpenSCAP Error: Profile not found\n"},
		"10.0.0.5": {osRelease: "ID=rhel\nVERSION_ID=\"9.4\"\n", oscapExit: 0},
		"10.0.0.6": {osRelease: debian12, oscapExit: 0, arf: []byte("<arf/>")},
		"10.0.0.7": {dialErr: fmt.Errorf("ssh: handshake failed: %w", &remote.HostKeyChangedError{Host: "10.0.0.7"})},
		"10.0.0.8": {osRelease: debian12, oscapExit: 0},
		"10.0.0.9": {osRelease: debian12, oscapExit: 137},
	}
	runDir := t.TempDir()
	s := &Scanner{Dialer: hosts, Content: testContent(t), Profile: std, Timeout: 500 * time.Millisecond, RunDir: runDir}
	var in []Host
	for _, a := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9", "10.0.0.99"} {
		in = append(in, Host{Name: "h" + a[len("10.0.0."):], Address: a})
	}
	start := time.Now()
	results := s.Fleet(context.Background(), in, 20, nil)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("fleet took %s: the hung host held up the others", el)
	}
	want := []struct {
		status Status
		errHas string
	}{
		{StatusNotCompliant, ""},
		{StatusNoOscap, "oscap is not installed on h2"},
		{StatusTimeout, "timed out after 500ms"},
		{StatusError, "oscap exited 1: OpenSCAP Error: Profile not found"},
		{StatusNoContent, "ssg-rhel9-ds.xml"},
		{StatusError, "no XCCDF TestResult"},
		{StatusHostKey, "HOST KEY CHANGED for 10.0.0.7"},
		{StatusCompliant, ""},
		{StatusError, "oscap exited 137"},
		{StatusUnreachable, "connection refused"},
	}
	for i, w := range want {
		r := results[i]
		if r.Host != in[i].Name {
			t.Errorf("result %d is for %s, want %s (input order)", i, r.Host, in[i].Name)
		}
		if r.Status != w.status || !strings.Contains(r.Error, w.errHas) || (w.errHas == "" && r.Error != "") {
			t.Errorf("%s: status %s error %q, want %s containing %q", r.Host, r.Status, r.Error, w.status, w.errHas)
		}
	}

	// Exit 2 is a result: parsed, files fetched, digest recorded, remote directory removed.
	r := results[0]
	if r.Result == nil || r.Result.Score != 80 || r.OscapExit != 2 || r.SCAPProfile != "xccdf_org.ssgproject.content_profile_standard" {
		t.Fatalf("h1: %+v", r)
	}
	for _, f := range []string{r.Files.ARF, r.Files.Report} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil || !strings.HasPrefix(f, "h1/") {
			t.Errorf("h1 file %q: %v", f, err)
		}
	}
	h1 := hosts["10.0.0.1"]
	if got := h1.files["/tmp/hardenctl.AbC123/ssg-debian12-ds.xml"]; !bytes.Equal(got, s.Content[0].Data) {
		t.Error("the datastream on the host is not the operator's")
	}
	if len(h1.removed) != 1 || h1.removed[0] != "/tmp/hardenctl.AbC123" || h1.open != 0 {
		t.Errorf("h1 cleanup: removed %v, open conns %d", h1.removed, h1.open)
	}
	var eval string
	for _, c := range h1.commands {
		if strings.Contains(c, "oscap xccdf eval") {
			eval = c
		}
	}
	for _, part := range []string{"timeout -s KILL ", "--profile xccdf_org.ssgproject.content_profile_standard", "--results-arf arf.xml --report report.html ssg-debian12-ds.xml"} {
		if !strings.Contains(eval, part) {
			t.Errorf("oscap command %q lacks %q", eval, part)
		}
	}
	if strings.Contains(eval, "--remediate") {
		t.Error("scan remediates")
	}
	// The hung host's directory is removed after its timeout, too.
	if h3 := hosts["10.0.0.3"]; len(h3.removed) != 1 {
		t.Errorf("hung host: removed %v", h3.removed)
	}

	// Reports: summary, gate, JSON, JUnit.
	sum := NewSummary("run1", "scan", "standard", 85, start, results)
	if sum.Passed || !sum.Hosts[0].BelowMinScore || !sum.Hosts[7].BelowMinScore || sum.Hosts[0].DatastreamSHA256 != s.Content[0].SHA256 {
		t.Errorf("summary: %+v", sum)
	}
	var text bytes.Buffer
	if err := sum.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HOST", "h1", "noncompliant (below 85)", "80.00", "oscap is not installed on h2", "10 hosts: 2 scanned, 2 below min score 85", "FAILED"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}
	if err := sum.WriteFile(runDir); err != nil {
		t.Fatal(err)
	}
	var back Summary
	b, _ := os.ReadFile(filepath.Join(runDir, "summary.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Hosts[0].DatastreamPath == "" || *back.Hosts[0].Score != 80 {
		t.Errorf("summary.json: %v %s", err, b)
	}
	var junit bytes.Buffer
	if err := WriteJUnit(&junit, sum, results); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(junit.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 10 || doc.Suites[0].Tests != 7 || doc.Suites[0].Failures != 4 || doc.Suites[0].Skipped != 1 || doc.Suites[1].Errors != 1 {
		t.Errorf("junit: %+v", doc.Suites[:2])
	}
}

// hostRecorder keeps a fleet's events and answers Halt to the end of the host named halt
// ("first": of any host).
type hostRecorder struct {
	mu     sync.Mutex
	events []event.Event
	halt   string
}

func (r *hostRecorder) Event(e event.Event) event.Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if e.Phase == event.End && (e.Address == r.halt || r.halt == "first") {
		return event.Halt
	}
	return event.Continue
}

// Each host is reported at its start and end, with its score and the gate's verdict; a Halt
// starts no new host, and those never started are skipped (not failed); a cancelled run
// reports the hosts it did not start as canceled.
func TestFleetEventsAndHalt(t *testing.T) {
	std, _ := profiles.Builtin("standard")
	std.MinScore = 85
	d := fakeDialer{"10.0.0.1": {osRelease: debian12, oscapExit: 2}, "10.0.0.3": {osRelease: debian12, oscapExit: 2}}
	hosts := []Host{{Name: "h1", Address: "10.0.0.1"}, {Name: "h2", Address: "10.0.0.2"}, {Name: "h3", Address: "10.0.0.3"}}
	s := &Scanner{Dialer: d, Content: testContent(t), Profile: std, Timeout: 5 * time.Second, SSHConcurrency: 1}

	all := &hostRecorder{}
	res := s.Fleet(context.Background(), hosts, 1, all)
	var got []string
	for _, e := range all.events {
		line := fmt.Sprintf("%s %s %s %s", e.Kind, e.Address, e.Action, e.Phase)
		if e.Status != "" {
			line += " " + e.Status
		}
		if e.Score != nil {
			line += fmt.Sprintf(" %.0f", *e.Score)
		}
		if e.Err != nil {
			line += " err"
		}
		got = append(got, line)
	}
	sort.SliceStable(got, func(i, j int) bool { return strings.Fields(got[i])[1] < strings.Fields(got[j])[1] }) // hosts overlap
	want := []string{
		"host h1 scan start", "host h1 scan end below-minimum 80",
		"host h2 scan start", "host h2 scan end unreachable err",
		"host h3 scan start", "host h3 scan end below-minimum 80",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if res[1].Status != StatusUnreachable {
		t.Errorf("h2: %+v", res[1])
	}

	// The first host's end halts the run: the host connected ahead meanwhile does not run
	// oscap (and is cleaned up), the third is never started.
	d = fakeDialer{}
	for _, h := range hosts {
		d[h.Address] = &fakeHost{osRelease: debian12, oscapExit: 2, delay: 100 * time.Millisecond}
	}
	s.Dialer = d
	halt := &hostRecorder{halt: "first"}
	res = s.Fleet(context.Background(), hosts, 1, halt)
	var statuses, skipped []string
	for _, r := range res {
		statuses = append(statuses, string(r.Status))
		if r.Error != "" {
			t.Errorf("%s: error %q", r.Host, r.Error)
		}
	}
	sort.Strings(statuses)
	if fmt.Sprint(statuses) != "[noncompliant skipped skipped]" {
		t.Errorf("halted after the first host: %v, want one result and two skipped", statuses)
	}
	ran := 0
	for _, h := range d {
		for _, c := range h.commands {
			if strings.Contains(c, "oscap xccdf eval") {
				ran++
			}
		}
		if h.open != 0 || len(h.commands) > 0 && len(h.removed) != 1 {
			t.Errorf("a host was not cleaned up: removed %v, open %d", h.removed, h.open)
		}
	}
	if ran != 1 {
		t.Errorf("oscap ran %d times, want once", ran)
	}
	for _, e := range halt.events {
		if e.Status == "skipped" {
			skipped = append(skipped, string(e.Phase))
		}
	}
	sort.Strings(skipped)
	if fmt.Sprint(skipped) != "[end info]" {
		t.Errorf("skipped hosts reported as %v, want [end info] (one connected ahead, one never started)", skipped)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = s.Fleet(ctx, hosts, 2, nil)
	if res[2].Status != StatusCanceled {
		t.Errorf("canceled run: %+v", res[2])
	}
}

// A datastream that arrives damaged is not scanned with: gzip's CRC check fails the unpack.
func TestScannerCorruptUpload(t *testing.T) {
	d := fakeDialer{"10.0.0.1": {osRelease: debian12, corrupt: true}}
	std, _ := profiles.Builtin("standard")
	s := &Scanner{Dialer: d, Content: testContent(t), Profile: std}
	r := s.Host(context.Background(), Host{Name: "h1", Address: "10.0.0.1"})
	if r.Status != StatusError || !strings.Contains(r.Error, "unpack ssg-debian12-ds.xml exited 1: gzip:") {
		t.Fatalf("status %s, error %q", r.Status, r.Error)
	}
	for _, c := range d["10.0.0.1"].commands {
		if strings.Contains(c, "oscap xccdf eval") {
			t.Errorf("oscap ran on damaged content: %s", c)
		}
	}
}

// gauge counts what is going on at once and keeps the peak.
type gauge struct{ n, peak atomic.Int32 }

func (g *gauge) up() {
	n := g.n.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
}
func (g *gauge) down() { g.n.Add(-1) }

type fleetGauges struct{ oscap, conns, dials gauge }

// The ssh concurrency bounds the hosts that connect and upload at once, ahead of the
// --concurrency hosts running oscap: here 2 connect at a time while 4 may scan.
func TestScannerFleetSSHConcurrency(t *testing.T) {
	g := &fleetGauges{}
	d := fakeDialer{}
	hosts := make([]Host, 12)
	for i := range hosts {
		hosts[i] = Host{Name: fmt.Sprintf("h%02d", i), Address: fmt.Sprintf("10.0.0.%d", i)}
		d[hosts[i].Address] = &fakeHost{osRelease: debian12, oscapExit: 2, delay: 5 * time.Millisecond, dialDelay: 20 * time.Millisecond, gauges: g}
	}
	std, _ := profiles.Builtin("standard")
	s := &Scanner{Dialer: d, Content: testContent(t), Profile: std, SSHConcurrency: 2}
	for _, r := range s.Fleet(context.Background(), hosts, 4, nil) {
		if r.Status != StatusNotCompliant {
			t.Errorf("%s: %s %s", r.Host, r.Status, r.Error)
		}
	}
	if p := g.dials.peak.Load(); p != 2 {
		t.Errorf("peak connects at once %d, want the ssh concurrency, 2", p)
	}
	if p := g.conns.peak.Load(); p > 6 {
		t.Errorf("peak connections %d, want at most 6 (4 scanning, 2 connected ahead)", p)
	}
}

// A fleet is pipelined: at most concurrency oscap runs at once, up to as many more hosts
// connected and loaded ahead, and the wait for a run slot does not count against a host's
// timeout (here each host's timeout is shorter than the queue it waits in).
func TestScannerFleetPipelines(t *testing.T) {
	g := &fleetGauges{}
	d := fakeDialer{}
	// 24 hosts, 3 slots, 50 ms of oscap each: the last hosts wait ~350 ms for a slot, longer
	// than their 250 ms timeout, while their own work leaves 200 ms of slack for a busy machine.
	hosts := make([]Host, 24)
	for i := range hosts {
		hosts[i] = Host{Name: fmt.Sprintf("h%02d", i), Address: fmt.Sprintf("10.0.0.%d", i)}
		d[hosts[i].Address] = &fakeHost{osRelease: debian12, oscapExit: 2, delay: 50 * time.Millisecond, gauges: g}
	}
	std, _ := profiles.Builtin("standard")
	timeout := 250 * time.Millisecond
	s := &Scanner{Dialer: d, Content: testContent(t), Profile: std, Timeout: timeout}
	res := s.Fleet(context.Background(), hosts, 3, nil)
	for _, r := range res {
		if r.Status != StatusNotCompliant {
			t.Errorf("%s: %s %s", r.Host, r.Status, r.Error)
		}
		if r.Duration >= timeout {
			t.Errorf("%s: duration %s counts the queue", r.Host, r.Duration)
		}
	}
	if p := g.oscap.peak.Load(); p != 3 {
		t.Errorf("peak oscap runs %d, want 3", p)
	}
	if p := g.conns.peak.Load(); p <= 3 || p > 6 {
		t.Errorf("peak connections %d, want 4..6 (3 running, up to 3 ready)", p)
	}
	if n := g.conns.n.Load(); n != 0 {
		t.Errorf("%d connections left open", n)
	}
}

func TestHardenGuardKeepsRoot(t *testing.T) {
	master, _ := profiles.Builtin("master")
	var sshdConfig strings.Builder
	h := &fakeHost{osRelease: debian12, oscapExit: 2}
	h.other = func(cmd string) (string, int) {
		switch {
		case strings.HasPrefix(cmd, "sshd -t"):
			// Remediation put PermitRootLogin no first; the guard's Match block lets root in again.
			prl := "no"
			if strings.Contains(sshdConfig.String(), "Match User root Address 10.250.0.1") {
				prl = "prohibit-password"
			}
			return "== 10.250.0.1\npermitrootlogin " + prl + "\npubkeyauthentication yes\n", 0
		case strings.Contains(cmd, ">> /etc/ssh/sshd_config"):
			sshdConfig.WriteString(cmd)
		case strings.HasPrefix(cmd, "auditctl -l"):
			return "-a always,exit -F arch=b64 -S open,truncate,ftruncate,creat,openat,open_by_handle_at -F dir=/var/lib/etcd -F key=openshift_etcd\n", 0
		case cmd == "id -u":
			return "0\n", 0
		}
		return "", 0
	}
	s := &Scanner{Dialer: fakeDialer{"10.250.0.2": h}, Content: testContent(t), Profile: master, Remediate: true, Timeout: 5 * time.Second, RunDir: t.TempDir()}
	r := s.Host(context.Background(), Host{Name: "m1", Address: "10.250.0.2"})
	if r.Status != StatusNotCompliant || r.Before == nil || r.Remediation == nil || r.Result == nil || r.Error != "" {
		t.Fatalf("harden: %+v", r)
	}
	if !strings.Contains(sshdConfig.String(), "PermitRootLogin prohibit-password") {
		t.Errorf("guard did not repair root login: %q", sshdConfig.String())
	}
	joined := strings.Join(h.commands, "\n")
	for _, want := range []string{"--remediate", "install -D -m 0640", profiles.AuditRulesPath, "augenrules --load", "kill -HUP"} {
		if !strings.Contains(joined, want) {
			t.Errorf("harden never ran %q", want)
		}
	}
	if !bytes.Contains(h.files["/tmp/hardenctl.AbC123/audit.rules"], []byte(profiles.EtcdAuditRule)) {
		t.Error("etcd rule not uploaded")
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "use a sudo user") && !strings.Contains(r.Notes[0], "sudo user") {
		t.Errorf("notes: %q", r.Notes)
	}
	if r.Files.Before == "" || r.Files.Remedy == "" || r.Files.ARF == r.Files.Before {
		t.Errorf("files: %+v", r.Files)
	}
}

func TestClassifyCanceled(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	if got := classify(parent, parent, errors.New("x")); got != StatusCanceled {
		t.Errorf("got %s", got)
	}
}

func TestTailoredProfile(t *testing.T) {
	const base = "xccdf_org.ssgproject.content_profile_standard"
	file := func(profiles ...string) []byte {
		return []byte(`<?xml version="1.0"?><Tailoring xmlns="http://checklists.nist.gov/xccdf/1.2" id="t">` + strings.Join(profiles, "") + `</Tailoring>`)
	}
	prof := func(id, extends string) string {
		return `<Profile id="` + id + `" extends="` + extends + `"><title>x</title></Profile>`
	}
	for _, tc := range []struct {
		name, file, want, err string
	}{
		{"the id itself", string(file(prof(base, base))), base, ""},
		{"the one extending it", string(file(prof("x_customized", base), prof("y", "other"))), "x_customized", ""},
		{"two extend it", string(file(prof("a", base), prof("b", base))), "", "profiles a, b all extend " + base},
		{"none extends it", string(file(prof("y", "other"))), "", "no profile of the file (y) is or extends " + base},
		{"no profile", string(file()), "", "defines no Profile"},
		{"not XML", "{}", "", "not an XCCDF tailoring file"},
	} {
		got, err := tailoredProfile([]byte(tc.file), base)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %q, %v; want %q, %q", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestScannerTailoringAndRemediateFlags(t *testing.T) {
	h := &fakeHost{osRelease: debian12, oscapExit: 0}
	p, _ := profiles.Builtin("standard")
	p.Tailoring = "tailoring/node.xml"
	tailoring := `<xccdf:Tailoring xmlns:xccdf="http://checklists.nist.gov/xccdf/1.2" id="t">` +
		`<xccdf:Profile id="xccdf_org.ssgproject.content_profile_standard_customized" extends="xccdf_org.ssgproject.content_profile_standard"/></xccdf:Tailoring>`
	s := &Scanner{Dialer: fakeDialer{"a": h}, Content: testContent(t), Profile: p, Tailoring: []byte(tailoring)}
	r := s.Host(context.Background(), Host{Address: "a"})
	if r.Status != StatusCompliant || r.Tailoring != "tailoring/node.xml" || r.Host != "a" {
		t.Fatalf("%+v", r)
	}
	// The tailored profile is evaluated, not the base one that it extends.
	if r.SCAPProfile != "xccdf_org.ssgproject.content_profile_standard_customized" {
		t.Errorf("evaluated %s", r.SCAPProfile)
	}
	if string(h.files["/tmp/hardenctl.AbC123/tailoring.xml"]) != tailoring {
		t.Error("tailoring not uploaded")
	}
	var eval string
	for _, c := range h.commands {
		if strings.Contains(c, "oscap xccdf eval") {
			eval = c
		}
	}
	if !strings.Contains(eval, "--tailoring-file tailoring.xml") || strings.Contains(eval, "timeout -s KILL") {
		t.Errorf("eval without deadline: %s", eval)
	}
}
