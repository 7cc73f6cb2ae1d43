package hardening

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hardenctl/hardenctl/internal/shell"
	"github.com/hardenctl/hardenctl/profiles"
)

// Status is the outcome of one host's run.
type Status string

// Host outcomes. Compliant and NotCompliant mean oscap ran (exit 0 and 2); every other status
// means the host has no valid result.
const (
	StatusCompliant    Status = "compliant"
	StatusNotCompliant Status = "noncompliant"
	StatusError        Status = "error"       // oscap or a step on the host failed
	StatusTimeout      Status = "timeout"     // the per-host timeout ended the run
	StatusUnreachable  Status = "unreachable" // could not connect or log in
	StatusHostKey      Status = "hostkey"     // host key unknown or changed
	StatusNoOscap      Status = "no-oscap"    // oscap is not installed on the host
	StatusNoContent    Status = "no-content"  // no datastream or SCAP profile for the host's OS
	StatusCanceled     Status = "canceled"    // the whole run was interrupted
	StatusSkipped      Status = "skipped"     // not started: a hook halted the run (no failure of the host)
)

// Ran reports whether oscap produced a result.
func (s Status) Ran() bool { return s == StatusCompliant || s == StatusNotCompliant }

// oscap exit codes (oscap(8)): 0 all rules passed, 2 at least one rule failed, 1 error.
const (
	oscapExitCompliant    = 0
	oscapExitNotCompliant = 2
	evalExitGzip          = 75 // not oscap's: compressing its results failed
)

// HostResult is everything one host's run produced.
type HostResult struct {
	Host    string `json:"host"`
	Address string `json:"address"`
	Status  Status `json:"status"`
	Error   string `json:"error,omitempty"`

	OS          string     `json:"os,omitempty"` // OS key, e.g. debian12
	Datastream  Datastream `json:"datastream"`
	SCAPProfile string     `json:"scap_profile,omitempty"`
	Tailoring   string     `json:"tailoring,omitempty"`
	OscapExit   int        `json:"oscap_exit"`

	// Result is the final evaluation (for harden: the scan after remediation).
	Result *Result `json:"-"`
	// Before is the scan before remediation (harden only).
	Before *Result `json:"-"`
	// Remediation is oscap's --remediate evaluation (harden only).
	Remediation *Result `json:"-"`
	// Files are the fetched results, relative to the run directory.
	Files HostFiles `json:"files"`
	// Notes are warnings from the steps after remediation (audit, guard).
	Notes []string `json:"notes,omitempty"`

	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
}

// HostFiles are a host's fetched files, relative to the run directory.
type HostFiles struct {
	ARF    string `json:"arf,omitempty"`
	Report string `json:"report,omitempty"`
	Before string `json:"before_arf,omitempty"`
	Remedy string `json:"remediation_arf,omitempty"`
}

// Scanner runs oscap on hosts over Conns from Dialer, judging each by the operator's content.
// Its zero values are usable except Dialer, Content and Profile.
type Scanner struct {
	Dialer  Dialer
	Content Datastreams
	Profile profiles.Profile
	// Tailoring is the tailoring file's content (Profile.Tailoring read by the caller).
	Tailoring []byte
	// Remediate runs harden: scan, oscap --remediate, the profile's additions, the SSH guard,
	// a new connection, and the final scan.
	Remediate bool
	// Timeout bounds each host's whole run (connect, upload, every oscap run, downloads).
	Timeout time.Duration
	// RunDir receives <host>/arf.xml and report.html; empty means nothing is kept.
	RunDir string
	// LoginUser is the SSH user (for the guard's sshd -T check); empty means root.
	LoginUser string
	// SSHConcurrency bounds the hosts of a Fleet that connect and upload at once, ahead of
	// those running oscap (the configuration's ssh concurrency; 0: Fleet's concurrency).
	SSHConcurrency int
	Logger         *slog.Logger
}

// Errors that map to a host status.
var (
	errNoOscap   = errors.New("oscap is not installed")
	errNoContent = errors.New("no content")
	// errNotStarted: a fleet's hook halted the run before the host began to connect.
	errNotStarted = errors.New("not started")
)

// dialError marks a failure to connect.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// remoteError is a command on the host that failed; Tail is the end of its stderr.
type remoteError struct {
	What string
	Exit int
	Tail string
}

func (e *remoteError) Error() string {
	msg := fmt.Sprintf("%s exited %d", e.What, e.Exit)
	if e.Tail != "" {
		msg += ": " + e.Tail
	}
	return msg
}

// Host runs the scan (or harden) on one host. It never returns an error: the outcome, good or
// bad, is in the HostResult.
func (s *Scanner) Host(ctx context.Context, h Host) HostResult {
	return s.runHost(ctx, h, nil, nil)
}

// slots pipelines a fleet: at most cap(prepare) hosts connect and upload at once, and at most
// cap(run) run oscap, so the next hosts are connected, probed and loaded while others scan and
// take a run slot the moment one frees. Without it, hosts that start together do their setup
// together, then scan together, round after round.
type slots struct {
	prepare, run chan struct{}
}

// acquire takes a slot of sem (nil: no limit) and returns its release, or ctx's error.
func acquire(ctx context.Context, sem chan struct{}) (func(), error) {
	if sem == nil {
		return func() {}, nil
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runHost is Host within a fleet's slots (nil: none). The host's timeout bounds its own work,
// connect to last download; the time it waits for a run slot does not count, so a host that
// is connected ahead never times out in the queue. fh (nil: none) is asked at both slots.
func (s *Scanner) runHost(ctx context.Context, h Host, sl *slots, fh *fleetHooks) HostResult {
	res := HostResult{Host: h.Name, Address: h.Address}
	if res.Host == "" {
		res.Host = h.Address
	}
	var prepSem, runSem chan struct{}
	if sl != nil {
		prepSem, runSem = sl.prepare, sl.run
	}
	left := s.Timeout
	phase := func() (context.Context, context.CancelFunc) { // what is left of the host's timeout
		if s.Timeout <= 0 {
			return context.WithCancel(ctx)
		}
		return context.WithTimeout(ctx, left)
	}
	hctx, cancel := ctx, context.CancelFunc(func() {})
	defer func() { cancel() }()
	begun := false // fh was told
	sess, err := func() (*session, error) {
		release, err := acquire(ctx, prepSem)
		if err != nil {
			return nil, err
		}
		defer release()
		if fh != nil {
			if fh.halted() {
				return nil, errNotStarted
			}
			fh.began()
			begun = true
		}
		res.Started = time.Now()
		hctx, cancel = phase()
		return s.prepare(hctx, h, &res)
	}()
	var waited time.Duration
	if err == nil {
		defer sess.close(ctx)
		left -= time.Since(res.Started)
		t := time.Now()
		var release func()
		if release, err = acquire(ctx, runSem); err == nil {
			defer release()
			if fh != nil && fh.halted() {
				skipped := HostResult{Host: res.Host, Address: res.Address, OS: res.OS, Status: StatusSkipped, Started: res.Started,
					Duration: time.Since(res.Started) - time.Since(t), Notes: []string{"connected, but the run was halted before oscap ran"}}
				fh.ended(skipped)
				return skipped
			}
			waited = time.Since(t)
			cancel()
			hctx, cancel = phase()
			err = s.run(hctx, h, sess, &res)
		}
	}
	if errors.Is(err, errNotStarted) {
		return HostResult{Host: res.Host, Address: res.Address}
	}
	if res.Started.IsZero() {
		res.Started = time.Now()
	}
	res.Duration = time.Since(res.Started) - waited
	if err != nil {
		res.Status = classify(ctx, hctx, err)
		res.Error = err.Error()
		if res.Status == StatusTimeout {
			res.Error = fmt.Sprintf("timed out after %s: %v", s.Timeout, err)
		}
		if res.Status == StatusNoOscap {
			res.Error = fmt.Sprintf("oscap is not installed on %s", res.Host)
		}
	}
	s.logger().Info("host done", "host", res.Host, "status", res.Status, "duration", res.Duration.Round(time.Millisecond), "error", res.Error)
	if begun {
		fh.ended(res) // before the slots are released: a Halt it brings is seen by the next host
	}
	return res
}

func (s *Scanner) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Logger
}

// classify turns a host's error into its status. parent is the run's context, hctx the host's.
func classify(parent, hctx context.Context, err error) Status {
	var de *dialError
	switch {
	case parent.Err() != nil:
		return StatusCanceled
	case errors.Is(hctx.Err(), context.DeadlineExceeded):
		return StatusTimeout
	case isHostKeyError(err):
		return StatusHostKey
	case errors.As(err, &de):
		return StatusUnreachable // including the SSH layer's own connect timeout
	case errors.Is(err, errNoOscap):
		return StatusNoOscap
	case errors.Is(err, errNoContent):
		return StatusNoContent
	case errors.Is(err, context.DeadlineExceeded):
		return StatusTimeout
	}
	return StatusError
}

// session is a host made ready to scan: connected, probed, its content uploaded.
type session struct {
	log     *slog.Logger
	conn    Conn
	rs      *remoteDir
	ev      evaluation
	hostDir string // under RunDir; empty when nothing is kept
}

// close removes the remote directory (even when ctx has ended) and closes the connection.
func (ss *session) close(ctx context.Context) {
	ss.rs.remove(ctx, ss.log)
	ss.conn.Close()
}

// prepare connects to the host, learns its OS, makes the private remote directory and uploads
// the datastream (and tailoring) it will be judged by.
func (s *Scanner) prepare(ctx context.Context, h Host, res *HostResult) (*session, error) {
	log := s.logger().With("host", res.Host)
	t0 := time.Now()
	conn, err := s.Dialer.Dial(ctx, h)
	if err != nil {
		return nil, &dialError{err}
	}
	log.Debug("step done", "step", "connect", "elapsed", time.Since(t0).Round(time.Millisecond))
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()

	// What is the host, can it scan, and a private directory for the content and the
	// results: one round trip.
	var stdout bytes.Buffer
	var stderr tailBuffer
	exit, err := conn.Run(ctx, probeCommand, &stdout, &stderr)
	if err != nil {
		return nil, fmt.Errorf("probe host: %w", err)
	}
	release, dirLine, _ := strings.Cut(stdout.String(), probeDirMarker)
	if exit == probeNoOSRelease {
		return nil, fmt.Errorf("%w: cannot read /etc/os-release: %s", errNoContent, stderr.String())
	}
	osr, err := ParseOSRelease(strings.NewReader(release))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoContent, err)
	}
	res.OS = osr.Key()
	if exit == probeNoOscap {
		return nil, errNoOscap
	}
	if exit != 0 {
		return nil, &remoteError{What: "probe host", Exit: exit, Tail: stderr.String()}
	}
	dir := strings.TrimSpace(dirLine)
	if !strings.HasPrefix(dir, "/tmp/hardenctl.") || strings.ContainsAny(dir, " \n'\"") {
		return nil, fmt.Errorf("create remote directory: unexpected mktemp output %q", dirLine)
	}
	rs := &remoteDir{conn: conn, dir: dir}
	defer func() {
		if !ok {
			rs.remove(ctx, log)
		}
	}()
	ds, scapID, err := s.pick(osr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoContent, err)
	}
	if len(s.Tailoring) > 0 {
		if scapID, err = tailoredProfile(s.Tailoring, scapID); err != nil {
			return nil, err
		}
	}
	res.Datastream, res.SCAPProfile, res.Tailoring = ds, scapID, s.Profile.Tailoring

	if err := rs.uploadDatastream(ctx, ds); err != nil {
		return nil, err
	}
	tailoring := ""
	if len(s.Tailoring) > 0 {
		tailoring = "tailoring.xml"
		if err := rs.upload(ctx, tailoring, s.Tailoring, ""); err != nil {
			return nil, err
		}
	}
	hostDir := ""
	if s.RunDir != "" {
		hostDir = HostDirName(res.Host)
		if err := os.MkdirAll(filepath.Join(s.RunDir, hostDir), 0o750); err != nil {
			return nil, fmt.Errorf("create host report directory: %w", err)
		}
	}
	log.Debug("step done", "step", "probe and upload", "elapsed", time.Since(t0).Round(time.Millisecond))
	ok = true
	return &session{
		log: log, conn: conn, rs: rs, hostDir: hostDir,
		ev: evaluation{ds: ds.Name, profile: scapID, tailoring: tailoring, gzip: rs.gzip},
	}, nil
}

// run scans the prepared host, or hardens it: scan, remediate, the profile's additions, the
// guard, a new connection, and the final scan.
func (s *Scanner) run(ctx context.Context, h Host, ss *session, res *HostResult) error {
	log, rs, ev, hostDir := ss.log, ss.rs, ss.ev, ss.hostDir
	if !s.Remediate {
		t0 := time.Now()
		r, exit, err := s.evaluate(ctx, rs, ev, hostDir, "", res)
		res.OscapExit = exit
		if err != nil {
			return err
		}
		log.Debug("step done", "step", "evaluate", "elapsed", time.Since(t0).Round(time.Millisecond))
		res.Result, res.Status = r, statusOf(exit)
		return nil
	}

	if err := rs.backupAccessConfig(ctx); err != nil {
		return err
	}
	bg := s.guardBastion(ctx, h, res) // nil unless h is the bastion and forwards now
	before, _, err := s.evaluate(ctx, rs, ev, hostDir, "before-", res)
	if err != nil {
		return fmt.Errorf("scan before remediation: %w", err)
	}
	res.Before = before
	res.Files.Before = res.Files.ARF
	log.Info("before remediation", "score", before.Score, "failed", before.Failed.Total())

	rem := ev
	rem.remediate = true
	remedy, _, err := s.evaluate(ctx, rs, rem, hostDir, "remediation-", res)
	if err != nil {
		return fmt.Errorf("remediate: %w", err)
	}
	res.Remediation = remedy
	res.Files.Remedy = res.Files.ARF
	log.Info("remediated", "fixed", remedy.Counts[ResultFixed], "errors", remedy.Counts[ResultError])

	if err := s.installAdditions(ctx, rs, res); err != nil {
		return err
	}
	conn2, err := s.guard(ctx, h, rs, res, bg)
	if err != nil {
		return fmt.Errorf("guard the SSH path to %s: %w", res.Host, err)
	}
	defer conn2.Close()
	// The final scan runs over the new connection: it proves the admin path still works.
	rs2 := &remoteDir{conn: conn2, dir: rs.dir, gzip: rs.gzip}
	after, exit, err := s.evaluate(ctx, rs2, ev, hostDir, "", res)
	res.OscapExit = exit
	if err != nil {
		return fmt.Errorf("scan after remediation: %w", err)
	}
	res.Result, res.Status = after, statusOf(exit)
	log.Info("after remediation", "score_before", before.Score, "score_after", after.Score)
	return nil
}

func statusOf(exit int) Status {
	if exit == oscapExitCompliant {
		return StatusCompliant
	}
	return StatusNotCompliant
}

// pick chooses the datastream and the SCAP profile for the host's OS.
func (s *Scanner) pick(osr OSRelease) (Datastream, string, error) {
	var ds Datastream
	var err error
	if s.Profile.Datastream != "" {
		ds, err = s.Content.Named(s.Profile.Datastream)
	} else {
		ds, err = s.Content.ForOS(osr)
	}
	if err != nil {
		return Datastream{}, "", err
	}
	key := osr.Key()
	if key == "" {
		key = osr.ID
	}
	id, err := s.Profile.SCAPProfileFor(key)
	if err != nil {
		return Datastream{}, "", err
	}
	return ds, id, nil
}

// evaluation is one oscap xccdf eval invocation.
type evaluation struct {
	ds, profile, tailoring string
	remediate              bool
	gzip                   bool // the host has gzip: compress the results before fetching them
}

// command is the remote command line, run in the remote directory. The remote timeout is a
// second guard behind the context (the Conn kills the command when ctx ends): it fires a few
// seconds after the host's deadline.
func (e evaluation) command(dir string, deadline time.Time, hasDeadline bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cd %s && ", shell.Quote(dir))
	if hasDeadline {
		secs := int(math.Ceil(time.Until(deadline).Seconds())) + 5
		fmt.Fprintf(&b, "timeout -s KILL %d ", max(secs, 1))
	}
	b.WriteString("oscap xccdf eval --profile " + shell.Quote(e.profile))
	if e.tailoring != "" {
		b.WriteString(" --tailoring-file " + shell.Quote(e.tailoring))
	}
	if e.remediate {
		b.WriteString(" --remediate")
	}
	// The ARF holds the XCCDF results (with the OVAL results and the target's facts): a separate
	// --results file would be a second copy to write, compress and fetch.
	b.WriteString(" --results-arf arf.xml --report report.html " + shell.Quote(e.ds))
	b.WriteString("; rc=$?")
	if e.gzip {
		// The ARF is XML (14 MB for Debian's standard profile): gzip -1 makes it and the report
		// a tenth for the trip back through the bastion.
		fmt.Fprintf(&b, "; if [ $rc -eq 0 ] || [ $rc -eq 2 ]; then gzip -1 -f arf.xml report.html || rc=%d; fi", evalExitGzip)
	}
	// The results belong to the login user, who fetches them over SFTP.
	b.WriteString(`; chown -R "${SUDO_USER:-$(id -un)}" . 2>/dev/null; exit $rc`)
	return b.String()
}

// evaluate runs one evaluation, fetches its files into the host's report directory with the
// given prefix, and parses the ARF. Exit 0 and 2 are results; anything else is an error.
func (s *Scanner) evaluate(ctx context.Context, rs *remoteDir, ev evaluation, hostDir, prefix string, res *HostResult) (*Result, int, error) {
	deadline, ok := ctx.Deadline()
	var stderr tailBuffer
	t0 := time.Now()
	exit, err := rs.conn.Run(ctx, ev.command(rs.dir, deadline, ok), io.Discard, &stderr)
	s.logger().Debug("oscap done", "host", res.Host, "exit", exit, "elapsed", time.Since(t0).Round(time.Millisecond))
	if err != nil {
		return nil, -1, fmt.Errorf("run oscap: %w", err)
	}
	if exit != oscapExitCompliant && exit != oscapExitNotCompliant {
		if exit == 137 && ok && time.Now().After(deadline) {
			return nil, exit, fmt.Errorf("oscap killed by the remote timeout: %w", context.DeadlineExceeded)
		}
		return nil, exit, &remoteError{What: "oscap", Exit: exit, Tail: stderr.String()}
	}
	// Files stream to disk (an ARF is 14 MB for Debian's standard profile; twenty of them in
	// memory at once would cost hundreds of MB); the ARF is parsed from its file.
	files := []struct {
		remote string
		local  *string
	}{{"arf.xml", &res.Files.ARF}, {"report.html", &res.Files.Report}}
	if hostDir == "" {
		// Nothing is kept: fetch the ARF alone, into a temporary file.
		files = files[:1]
	}
	paths := make([]string, len(files))
	for i, f := range files {
		if hostDir == "" {
			tmp, err := os.CreateTemp("", "hardenctl-arf-*.xml")
			if err != nil {
				return nil, exit, err
			}
			tmp.Close()
			defer os.Remove(tmp.Name())
			paths[i] = tmp.Name()
			continue
		}
		rel := filepath.Join(hostDir, prefix+f.remote)
		*f.local = rel
		paths[i] = filepath.Join(s.RunDir, rel)
	}
	// The files come back in parallel over the connection's one SFTP session.
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = downloadFile(ctx, rs.conn, rs.dir+"/"+f.remote, paths[i], ev.gzip)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, exit, err
	}
	arfPath := paths[0]
	r, err := ParseResultFile(arfPath)
	if err != nil {
		return nil, exit, fmt.Errorf("ARF from %s: %w", res.Host, err)
	}
	return r, exit, nil
}

// downloadFile copies the remote file into local; with gz, the host has remote+".gz" and it
// is uncompressed on the way.
func downloadFile(ctx context.Context, conn Conn, remote, local string, gz bool) error {
	f, err := os.OpenFile(local, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("create %s: %w", local, err)
	}
	if !gz {
		if err := conn.Download(ctx, remote, f); err != nil {
			f.Close()
			return fmt.Errorf("download %s: %w", remote, err)
		}
		return f.Close()
	}
	var buf bytes.Buffer
	if err := conn.Download(ctx, remote+".gz", &buf); err != nil {
		f.Close()
		return fmt.Errorf("download %s.gz: %w", remote, err)
	}
	zr, err := gzip.NewReader(&buf)
	if err == nil {
		_, err = io.Copy(f, zr)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("uncompress %s.gz: %w", remote, err)
	}
	return f.Close()
}

// remoteDir is a private temporary directory on the host.
type remoteDir struct {
	conn Conn
	dir  string
	gzip bool // the host has gzip (learnt when the datastream was unpacked)
}

// probeCommand prints /etc/os-release, checks for oscap, and makes the private remote
// directory with mktemp -d (mode 0700), handed to the login user, who uploads and downloads
// over SFTP while oscap runs as root.
const probeCommand = `cat /etc/os-release || exit 4; command -v oscap >/dev/null || exit 3; ` +
	`d=$(mktemp -d /tmp/hardenctl.XXXXXXXX) && chown "${SUDO_USER:-$(id -un)}" "$d" && echo "` + probeDirMarker + `$d"`

const (
	probeDirMarker   = "@@hardenctl-dir="
	probeNoOscap     = 3
	probeNoOSRelease = 4
)

// upload writes data to name in the directory and, when digest is set, checks that the host
// has exactly those bytes.
func (rs *remoteDir) upload(ctx context.Context, name string, data []byte, digest string) error {
	path := rs.dir + "/" + name
	if err := rs.conn.Upload(ctx, path, bytes.NewReader(data), 0o600); err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	if digest == "" {
		return nil
	}
	out, err := runOut(ctx, rs.conn, "sha256sum "+shell.Quote(path), "check "+name)
	if err != nil {
		return err
	}
	if got, _, _ := strings.Cut(strings.TrimSpace(out), " "); got != digest {
		return fmt.Errorf("upload %s: digest on the host is %s, want %s", name, got, digest)
	}
	return nil
}

// uploadDatastream sends the datastream compressed and unpacks it on the host (gzip is in
// every base system; without it, the plain file is sent and its digest checked on the host).
// The compressed copy needs no digest check: SSH's MAC protects the transfer, and gzip checks
// the CRC-32 and length of what it unpacks, failing on any difference.
func (rs *remoteDir) uploadDatastream(ctx context.Context, ds Datastream) error {
	if len(ds.Gzip) == 0 {
		return rs.upload(ctx, ds.Name, ds.Data, ds.SHA256)
	}
	path := rs.dir + "/" + ds.Name
	if err := rs.conn.Upload(ctx, path+".gz", bytes.NewReader(ds.Gzip), 0o600); err != nil {
		return fmt.Errorf("upload %s: %w", ds.Name, err)
	}
	cmd := fmt.Sprintf("command -v gzip >/dev/null || exit 127; gzip -d %s.gz", shell.Quote(path))
	_, err := runOut(ctx, rs.conn, cmd, "unpack "+ds.Name)
	if re := (*remoteError)(nil); errors.As(err, &re) && re.Exit == 127 {
		return rs.upload(ctx, ds.Name, ds.Data, ds.SHA256)
	}
	if err != nil {
		return err
	}
	rs.gzip = true
	return nil
}

// remove deletes the directory; it runs even when ctx has ended (the host's timeout), with a
// short timeout of its own.
func (rs *remoteDir) remove(ctx context.Context, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if _, err := runOut(cctx, rs.conn, "rm -rf -- "+shell.Quote(rs.dir), "remove remote directory"); err != nil {
		log.Warn("remote directory left behind", "dir", rs.dir, "error", err)
	}
}

// runOut runs cmd and returns its stdout; a non-zero exit is an error with stderr's tail.
func runOut(ctx context.Context, conn Conn, cmd, what string) (string, error) {
	var stdout bytes.Buffer
	var stderr tailBuffer
	exit, err := conn.Run(ctx, cmd, &stdout, &stderr)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if exit != 0 {
		return stdout.String(), &remoteError{What: what, Exit: exit, Tail: stderr.String()}
	}
	return stdout.String(), nil
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct{ b []byte }

const tailMax = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.b)) }

// HostDirName is the report directory name of a host: its name with anything but letters,
// digits, '.', '-' and '_' replaced.
func HostDirName(host string) string {
	b := []byte(host)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || s == "." || s == ".." {
		s = "host-" + strconv.Itoa(len(host))
	}
	return s
}
