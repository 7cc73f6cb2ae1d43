package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/internal/shell"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/remote"
	"github.com/hardenctl/hardenctl/rollout"
)

var (
	_ rollout.Gate    = (*Gate)(nil)
	_ rollout.Session = (*Session)(nil)
	_ Dialer          = RemoteDialer{}
)

// Console is what the gate reads of the cloud: a server's console output.
type Console interface {
	ConsoleOutput(ctx context.Context, serverID string) (string, error)
}

// Dialer opens an SSH session to a host verified against exactly the keys given (and
// through the bastion when one is configured). RemoteDialer is package remote's.
type Dialer interface {
	DialKeys(ctx context.Context, h hardening.Host, keys []remote.HostKey) (hardening.Conn, error)
}

// RemoteDialer is a *remote.Dialer as the gate sees it: one bastion connection shared by
// every server's session.
type RemoteDialer struct{ *remote.Dialer }

// DialKeys opens a session to h verified against keys only (remote.Dialer.DialKeys).
func (d RemoteDialer) DialKeys(ctx context.Context, h hardening.Host, keys []remote.HostKey) (hardening.Conn, error) {
	s, err := d.Dialer.DialKeys(ctx, remote.Host(h), keys)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// Scan is how the gate scans: the pinned content and the profile of the fleet's image
// (profiles.ForRun), as hardening.Scanner takes them. The gate's own min_score (the upgrade
// block's health) is judged by the engine; Profile.MinScore only goes into the reports.
type Scan struct {
	Content   hardening.Datastreams
	Profile   profiles.Profile
	Tailoring []byte
	Timeout   time.Duration // one scan's bound (0: the server's gate timeout only)
	RunDir    string        // where each server's ARF and report go (<RunDir>/<server>); "" keeps nothing
	LoginUser string
}

// Gate is the rollouts' gate over SSH: the console for the new host keys, the dialer for
// the sessions, the scanner for the score.
type Gate struct {
	Console Console
	SSH     Dialer
	Scan    Scan
	// ScanSource says where the scan's profile comes from (profiles.Choice.Source).
	ScanSource string
	// Skew is how much older than the rebuild's decision a boot marker on the console may be
	// (default DefaultSkew; see KeysSince).
	Skew   time.Duration
	Logger *slog.Logger
}

// Connect opens the gate's session to a rebuilt server: the host keys printed on its
// console after since (KeysSince), then SSH through the bastion verified against exactly
// those keys. No keys yet is an error the engine retries until the server's timeout.
func (g *Gate) Connect(ctx context.Context, s rollout.Server, since time.Time) (rollout.Session, error) {
	if s.Address == "" {
		return nil, fmt.Errorf("server %s has no address to reach it at", s.Name)
	}
	out, err := g.Console.ConsoleOutput(ctx, s.ID)
	if err != nil {
		return nil, fmt.Errorf("read the console of server %s: %w", s.Name, err)
	}
	skew := g.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	keys, err := KeysSince(out, since, skew)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", s.Name, err)
	}
	if len(keys) == 0 {
		when := "yet"
		if !since.IsZero() {
			when = "since its rebuild (" + since.UTC().Format(time.RFC3339) + ") yet"
		}
		return nil, fmt.Errorf("%w: server %s printed no host keys on its console %s", ErrNoKeys, s.Name, when)
	}
	conn, err := g.SSH.DialKeys(ctx, hardening.Host{Name: s.Name, Address: s.Address}, keys)
	if err != nil {
		return nil, err
	}
	return &Session{conn: conn, server: s, gate: g}, nil
}

// Describe names the compliance gate's profile and content for people ("" without one).
func (g *Gate) Describe() string {
	if g.Scan.Profile.Name == "" {
		return ""
	}
	s := "profile " + g.Scan.Profile.Name
	if g.ScanSource != "" {
		s += " " + g.ScanSource
	}
	if g.Scan.Profile.Datastream != "" {
		s += ", datastream " + g.Scan.Profile.Datastream
	}
	return s
}

// ErrNoKeys says the console shows no host keys of the rebuilt system yet.
var ErrNoKeys = errors.New("no new host keys")

// Probe checks a server that is not being rebuilt: SSH (with the keys its console shows
// last) and the TCP ports, as the health block asks; no scan.
func (g *Gate) Probe(ctx context.Context, s rollout.Server, h config.Health) error {
	if !h.SSH {
		return nil
	}
	sess, err := g.Connect(ctx, s, time.Time{})
	if err != nil {
		return err
	}
	defer sess.Close()
	for _, port := range h.TCP {
		if err := sess.TCP(ctx, port); err != nil {
			return err
		}
	}
	return nil
}

// Session is one verified session to a server.
type Session struct {
	conn   hardening.Conn
	server rollout.Server
	gate   *Gate
}

// tcpScript connects to the port from inside the server: bash's /dev/tcp on the loopback
// addresses and the server's own (a service may listen on one only), each bounded by
// timeout; without bash, ss lists the listening sockets.
const tcpScript = `port=$1; shift
if command -v bash >/dev/null 2>&1; then
  for a in 127.0.0.1 ::1 "$@"; do
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$a" "$port" 2>/dev/null && { echo "accepted on $a"; exit 0; }
  done
  exit 1
fi
ss -Hltn "sport = :$port" | grep -q . && { echo "listening (ss)"; exit 0; }
exit 1`

// TCP checks that port accepts connections, from inside the server over the session.
func (s *Session) TCP(ctx context.Context, port int) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port %d is not a TCP port", port)
	}
	args := []string{strconv.Itoa(port)}
	if host := hostOf(s.server.Address); host != "" {
		args = append(args, host)
	}
	cmd := "sh -c " + shell.Quote(tcpScript) + " tcp"
	for _, a := range args {
		cmd += " " + shell.Quote(a)
	}
	var out bytes.Buffer
	exit, err := s.conn.Run(ctx, cmd, &out, &out)
	if err != nil {
		return fmt.Errorf("probe port %d on %s: %w", port, s.server.Name, err)
	}
	if exit != 0 {
		return fmt.Errorf("port %d does not accept connections on %s (probed from inside)", port, s.server.Name)
	}
	return nil
}

// hostOf is the host part of an address (host or host:port).
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Scan runs the compliance scan over the session (hardening.Scanner, the pinned content and
// the image's profile) and returns its score.
func (s *Session) Scan(ctx context.Context) (rollout.Scan, error) {
	sc := s.gate.Scan
	scanner := &hardening.Scanner{
		Dialer: reuse{s.conn}, Content: sc.Content, Profile: sc.Profile, Tailoring: sc.Tailoring,
		Timeout: sc.Timeout, RunDir: sc.RunDir, LoginUser: sc.LoginUser, Logger: s.gate.Logger,
	}
	r := scanner.Host(ctx, hardening.Host{Name: s.server.Name, Address: s.server.Address})
	if !r.Status.Ran() || r.Result == nil {
		msg := r.Error
		if msg == "" {
			msg = string(r.Status)
		}
		return rollout.Scan{}, fmt.Errorf("%s: %s", r.Status, msg)
	}
	f := r.Result.Failed
	detail := fmt.Sprintf("profile %s (%s), datastream %s: %d high, %d medium, %d low failed",
		sc.Profile.Name, r.SCAPProfile, r.Datastream.Name, f.High, f.Medium, f.Low)
	if r.Files.Report != "" {
		detail += "; report " + r.Files.Report
	}
	return rollout.Scan{Score: r.Result.Score, Detail: detail}, nil
}

// Close closes the session.
func (s *Session) Close() error { return s.conn.Close() }

// reuse is a hardening.Dialer that hands the scanner the gate's own verified session (the
// scanner closes what it dialed: here, nothing).
type reuse struct{ conn hardening.Conn }

func (r reuse) Dial(context.Context, hardening.Host) (hardening.Conn, error) {
	return noClose{r.conn}, nil
}

type noClose struct{ hardening.Conn }

func (noClose) Close() error { return nil }
