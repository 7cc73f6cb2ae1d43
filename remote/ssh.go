package remote

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/hardenctl/hardenctl/internal/shell"
)

// Log attribute keys of the SSH layer.
const (
	logKeyHost    = "host"
	logKeyAddr    = "addr"
	logKeyBastion = "bastion"
	logKeyElapsed = "elapsed"
)

// DefaultConnectTimeout bounds the TCP connect and the SSH handshake of one host.
const DefaultConnectTimeout = 15 * time.Second

// Host is one machine to connect to.
type Host struct {
	Name    string // how messages name it (a server name, or the address given)
	Address string // host or host:port, as reached from the bastion (or directly without one)
}

// Config is how hardenctl reaches its targets.
type Config struct {
	User            string   // login user on the targets (root, or a sudo user with Sudo)
	IdentityFiles   []string // private keys (unencrypted; keep encrypted ones in the agent)
	UseAgent        bool     // also offer the keys of the agent at $SSH_AUTH_SOCK
	KnownHostsFile  string   // host keys are always verified against it (default ~/.ssh/known_hosts)
	TrustOnFirstUse bool     // add hosts never seen before to KnownHostsFile (never a changed key)
	Bastion         *BastionConfig
	ConnectTimeout  time.Duration // per host: TCP connect (or bastion forward) and handshake
	Sudo            bool          // run commands through `sudo -n` when User is not root
}

// BastionConfig is the jump host. Its own host key must be known (known_hosts) or given
// (HostKeys): trust on first use never applies to it.
type BastionConfig struct {
	Address       string // host or host:port
	User          string // defaults to Config.User
	IdentityFiles []string
	// HostKeys are the bastion's public host keys in authorized_keys form; when given, the
	// bastion must present one of them (known_hosts is not consulted for it).
	HostKeys []string
}

// Dialer opens verified SSH sessions, through one shared bastion connection when
// configured. Close it when done.
type Dialer struct {
	cfg         Config
	logger      *slog.Logger
	hostKeys    *hostKeys
	auth        []ssh.AuthMethod
	bastionAuth []ssh.AuthMethod
	agentConn   net.Conn
	sudo        bool

	bastion     *bastion        // nil without a bastion
	bastionKeys []ssh.PublicKey // the bastion's given host keys
	// forwardProbe is where ProveBastionForwarding forwards to, as the bastion sees it.
	forwardProbe string
}

// NewDialer checks the configuration, loads the keys and known_hosts, and connects to the
// bastion (if any), so a wrong bastion setup fails once, here, rather than once per host.
func NewDialer(ctx context.Context, cfg Config, logger *slog.Logger) (*Dialer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.User == "" {
		return nil, errors.New("ssh: no login user configured")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.KnownHostsFile == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("ssh: no known_hosts file configured and no home directory: %w", err)
		}
		cfg.KnownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
	}
	hk, err := newHostKeys(cfg.KnownHostsFile, cfg.TrustOnFirstUse, logger)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	d := &Dialer{cfg: cfg, logger: logger, hostKeys: hk, sudo: cfg.Sudo && cfg.User != "root", forwardProbe: defaultForwardProbe}

	var agentSigners func() ([]ssh.Signer, error)
	if cfg.UseAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, errors.New("ssh: agent requested but SSH_AUTH_SOCK is not set")
		}
		var dl net.Dialer
		c, err := dl.DialContext(ctx, "unix", sock)
		if err != nil {
			return nil, fmt.Errorf("ssh: connect to agent %s: %w", sock, err)
		}
		d.agentConn = c
		agentSigners = agent.NewClient(c).Signers
	}
	if d.auth, err = authMethods(cfg.IdentityFiles, agentSigners); err != nil {
		d.Close()
		return nil, err
	}
	if cfg.Bastion == nil {
		return d, nil
	}
	b := *cfg.Bastion
	if b.User == "" {
		b.User = cfg.User
	}
	d.bastionAuth = d.auth
	if len(b.IdentityFiles) > 0 {
		if d.bastionAuth, err = authMethods(b.IdentityFiles, agentSigners); err != nil {
			d.Close()
			return nil, fmt.Errorf("bastion: %w", err)
		}
	}
	if d.bastionKeys, err = ParseHostKeys(b.HostKeys); err != nil {
		d.Close()
		return nil, fmt.Errorf("bastion: %w", err)
	}
	d.bastion = &bastion{cfg: b, addr: withPort(b.Address), d: d}
	if _, err := d.bastion.client(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// authMethods: the identity files' keys first, then the agent's.
func authMethods(files []string, agentSigners func() ([]ssh.Signer, error)) ([]ssh.AuthMethod, error) {
	var signers []ssh.Signer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ssh: read identity: %w", err)
		}
		s, err := ssh.ParsePrivateKey(b)
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, fmt.Errorf("ssh: identity %s is passphrase-protected: add it to ssh-agent and use the agent", f)
		}
		if err != nil {
			return nil, fmt.Errorf("ssh: parse identity %s: %w", f, err)
		}
		signers = append(signers, s)
	}
	var m []ssh.AuthMethod
	if len(signers) > 0 {
		m = append(m, ssh.PublicKeys(signers...))
	}
	if agentSigners != nil {
		m = append(m, ssh.PublicKeysCallback(agentSigners))
	}
	if len(m) == 0 {
		return nil, errors.New("ssh: no identity files and no agent: nothing to authenticate with")
	}
	return m, nil
}

// Close closes the bastion connection and the agent connection. Conns already open through
// the bastion stop working.
func (d *Dialer) Close() error {
	if d.bastion != nil {
		d.bastion.close()
	}
	if d.agentConn != nil {
		d.agentConn.Close()
	}
	return nil
}

func (d *Dialer) clientConfig(user string, auth []ssh.AuthMethod, addr string) *ssh.ClientConfig {
	cfg := &ssh.ClientConfig{
		User:              user,
		Auth:              auth,
		HostKeyCallback:   d.hostKeys.callback(),
		HostKeyAlgorithms: d.hostKeys.algorithms(addr),
		Timeout:           d.cfg.ConnectTimeout,
	}
	if d.bastion != nil && sameAddr(addr, d.bastion.addr) {
		// The bastion, as the jump host or as a target: known or given, never trusted blindly.
		cfg.HostKeyCallback = d.hostKeys.bastionCallback(d.bastionKeys)
		if len(d.bastionKeys) > 0 {
			cfg.HostKeyAlgorithms = nil
			for _, k := range d.bastionKeys {
				cfg.HostKeyAlgorithms = append(cfg.HostKeyAlgorithms, k.Type())
			}
		}
	}
	return cfg
}

// IsBastion reports whether h is the configured bastion: the same host and port (22 when
// none is given). A name and an address of the same machine are different hosts here.
func (d *Dialer) IsBastion(h Host) bool {
	return d.bastion != nil && sameAddr(withPort(h.Address), d.bastion.addr)
}

// BastionUser is the user the bastion's own connections log in as (empty without a bastion).
func (d *Dialer) BastionUser() string {
	if d.bastion == nil {
		return ""
	}
	return d.bastion.cfg.User
}

// defaultForwardProbe is the bastion's own sshd, as the bastion sees it.
const defaultForwardProbe = "127.0.0.1:22"

// ProveBastionForwarding proves that a new bastion connection (its user and keys, its host key
// verified) may forward: it opens a direct-tcpip channel to 127.0.0.1:22 as the bastion sees
// it and reads the "SSH-" banner.
func (d *Dialer) ProveBastionForwarding(ctx context.Context) error {
	if d.bastion == nil {
		return errors.New("no bastion configured")
	}
	return d.bastion.proveForwarding(ctx, d.forwardProbe)
}

// sameAddr compares two host:port addresses: IP addresses by value, names without case.
func sameAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return a == b
	}
	ia, errA := netip.ParseAddr(ha)
	ib, errB := netip.ParseAddr(hb)
	if errA == nil && errB == nil {
		return ia.Unmap() == ib.Unmap()
	}
	return strings.EqualFold(ha, hb)
}

// Dial connects to h (through the bastion when configured), verifying its host key. The
// bastion itself, as a target, is dialed directly with the targets' user and keys: through
// itself, it would depend on the forwarding that hardening it may cut.
func (d *Dialer) Dial(ctx context.Context, h Host) (*Session, error) {
	return d.dial(ctx, h, nil)
}

// DialKeys connects to h like Dial, but verifies its host key against keys only (the keys a
// rebuilt server printed on its console): known_hosts is not consulted for h and trust on
// first use never applies, so a key known before a rebuild is refused as a changed key. With
// no keys it refuses to dial. The bastion is verified as always.
func (d *Dialer) DialKeys(ctx context.Context, h Host, keys []HostKey) (*Session, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("ssh to %s: no host keys to verify it against", h.Address)
	}
	var pubs []ssh.PublicKey
	for _, k := range keys {
		raw, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil {
			return nil, fmt.Errorf("host key %s of %s: not base64: %w", k.Type, h.Address, err)
		}
		pk, err := ssh.ParsePublicKey(raw)
		if err != nil {
			return nil, fmt.Errorf("host key %s of %s: %w", k.Type, h.Address, err)
		}
		pubs = append(pubs, pk)
	}
	return d.dial(ctx, h, pubs)
}

func (d *Dialer) dial(ctx context.Context, h Host, pinned []ssh.PublicKey) (*Session, error) {
	start := time.Now()
	addr := withPort(h.Address)
	name := h.Name
	if name == "" {
		name = h.Address
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout)
	defer cancel()

	var (
		nc  net.Conn
		err error
		via string
	)
	if d.bastion != nil && !d.IsBastion(h) {
		via = " through bastion " + d.bastion.addr
		nc, err = d.bastion.dial(ctx, addr)
	} else {
		var dl net.Dialer
		nc, err = dl.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s)%s: %w", name, addr, via, timeoutCause(ctx, err))
	}
	cc := d.clientConfig(d.cfg.User, d.auth, addr)
	if pinned != nil {
		cc.HostKeyCallback = pinnedCallback(pinned)
		cc.HostKeyAlgorithms = nil
		for _, k := range pinned {
			cc.HostKeyAlgorithms = append(cc.HostKeyAlgorithms, k.Type())
		}
	}
	client, err := handshake(ctx, nc, addr, cc)
	if err != nil {
		return nil, fmt.Errorf("ssh to %s@%s (%s)%s: %w", d.cfg.User, name, addr, via, err)
	}
	d.logger.Debug("ssh connected", logKeyHost, name, logKeyAddr, addr, logKeyElapsed, time.Since(start))
	return &Session{name: name, client: client, sudo: d.sudo}, nil
}

// handshake runs the SSH handshake on nc, bounded by ctx (connections forwarded by the
// bastion have no deadlines, so the conn is closed to end a stuck handshake).
func handshake(ctx context.Context, nc net.Conn, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	type result struct {
		c     ssh.Conn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
		done <- result{c, chans, reqs, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			nc.Close()
			return nil, r.err
		}
		return ssh.NewClient(r.c, r.chans, r.reqs), nil
	case <-ctx.Done():
		nc.Close()
		if r := <-done; r.err == nil {
			r.c.Close()
		}
		return nil, fmt.Errorf("handshake: %w", timeoutCause(ctx, ctx.Err()))
	}
}

// timeoutCause names a connect timeout as such.
func timeoutCause(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// withPort adds :22 to an address without a port ("host", "10.0.0.1", "fd00::1", "[fd00::1]").
func withPort(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return net.JoinHostPort(strings.Trim(a, "[]"), "22")
}

// Session is one verified connection to a host: commands (Run) and files (Upload, Download,
// over SFTP). It satisfies hardening.Conn (cmd/hardenctl wires it).
type Session struct {
	name   string
	client *ssh.Client
	sudo   bool

	mu   sync.Mutex
	sftp *sftp.Client
}

// runWrapper runs "$1" in its own session and process group with stdin from /dev/null, and
// kills that group when the SSH channel's stdin reaches EOF: hardenctl closes stdin when ctx
// ends, and sshd closes it when the connection dies. So an abandoned oscap never keeps
// running, with or without sudo, and whether or not the server honours "signal" requests.
// (An asynchronous list's stdin is /dev/null in a shell without job control: hence fd 3.)
const runWrapper = `exec 3<&0
setsid sh -c "$1" </dev/null 3<&- & p=$!
{ cat <&3 >/dev/null; kill -s KILL -- -$p || kill -s KILL $p; } >/dev/null 2>&1 &
w=$!
exec 3<&-
wait $p; rc=$?
kill $w 2>/dev/null
exit $rc`

// remoteCommand is the command line sent to the host for cmd.
func (c *Session) remoteCommand(cmd string) string {
	line := "sh -c " + shell.Quote(runWrapper) + " hardenctl " + shell.Quote(cmd)
	if c.sudo {
		return "sudo -n " + line
	}
	return line
}

// Run runs cmd on the host (through sudo -n when the login user is not root) and returns its
// exit status. A non-zero exit is not an error; err is set only when the command could not
// be run or ctx ended first: the remote process is then killed.
func (c *Session) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	sess, err := c.client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("run on %s: open session: %w", c.name, err)
	}
	defer sess.Close()
	if stdout != nil && stdout == stderr {
		// Both streams are copied by goroutines of their own: one writer for both must not
		// be written concurrently (a bytes.Buffer loses data), as os/exec also guards.
		w := &lockedWriter{w: stdout}
		stdout, stderr = w, w
	}
	sess.Stdout = stdout
	sess.Stderr = stderr
	stdin, err := sess.StdinPipe()
	if err != nil {
		return -1, fmt.Errorf("run on %s: %w", c.name, err)
	}
	if err := sess.Start(c.remoteCommand(cmd)); err != nil {
		return -1, fmt.Errorf("run on %s: start: %w", c.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		return exitStatus(c.name, err)
	case <-ctx.Done():
		stdin.Close()            // EOF: the wrapper kills the command's process group
		sess.Signal(ssh.SIGKILL) // and the shell, where the server allows signals
		select {                 // give the kill a moment to be delivered before closing
		case <-done:
		case <-time.After(2 * time.Second):
		}
		sess.Close()
		return -1, ctx.Err()
	}
}

// lockedWriter serializes writes from the stdout and stderr copiers. It hides the writer's
// io.ReaderFrom, which io.Copy would otherwise call concurrently.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func exitStatus(name string, err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		if ee.Signal() != "" {
			return -1, fmt.Errorf("run on %s: killed by signal %s", name, ee.Signal())
		}
		return ee.ExitStatus(), nil
	}
	var em *ssh.ExitMissingError
	if errors.As(err, &em) {
		return -1, fmt.Errorf("run on %s: the command ended without an exit status (connection lost?)", name)
	}
	return -1, fmt.Errorf("run on %s: %w", name, err)
}

// Close closes the SFTP client and the connection to the host (never the bastion's).
func (c *Session) Close() error {
	c.mu.Lock()
	if c.sftp != nil {
		c.sftp.Close()
		c.sftp = nil
	}
	c.mu.Unlock()
	return c.client.Close()
}
