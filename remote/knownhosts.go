package remote

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostError: the host is not in known_hosts, and trust on first use was not asked for.
type UnknownHostError struct {
	Host        string // as looked up in known_hosts: host or [host]:port
	Fingerprint string // SHA256 fingerprint of the key the host presented
	KnownHosts  string // the known_hosts file that was searched
}

func (e *UnknownHostError) Error() string {
	return fmt.Sprintf("host %s is not in %s (it presented %s): verify that fingerprint out of band "+
		"and add the host's key (ssh-keyscan %s >> %s), or run once with trust on first use",
		e.Host, e.KnownHosts, e.Fingerprint, e.Host, e.KnownHosts)
}

// HostKeyProblem marks host key verification failures for callers that report them apart.
func (e *UnknownHostError) HostKeyProblem() bool { return true }

// HostKeyChangedError: known_hosts has a different key for the host. The connection is
// refused, whatever the trust-on-first-use setting: this is what a man in the middle looks like.
type HostKeyChangedError struct {
	Host       string   // as looked up in known_hosts
	Want       []string // fingerprints recorded in known_hosts, with file:line
	Got        string   // fingerprint of the key the host presented
	KnownHosts string
}

func (e *HostKeyChangedError) Error() string {
	return fmt.Sprintf("HOST KEY CHANGED for %s: known_hosts has %s, the host presented %s; refusing to connect. "+
		"Someone may be intercepting the connection. If the host was rebuilt, check the new key out of band, "+
		"then remove the old one (ssh-keygen -R %s -f %s) and add the new one",
		e.Host, strings.Join(e.Want, ", "), e.Got, e.Host, e.KnownHosts)
}

// HostKeyProblem marks host key verification failures for callers that report them apart.
func (e *HostKeyChangedError) HostKeyProblem() bool { return true }

// HostKeyChanged tells this failure from an unknown host, for callers that may not import
// this package (the image pipeline stops waiting for a builder that presents another key).
func (e *HostKeyChangedError) HostKeyChanged() bool { return true }

// HostKeyError is any other host key verification failure (a key known_hosts marks
// @revoked).
type HostKeyError struct {
	Host string
	Err  error
}

func (e *HostKeyError) Error() string { return fmt.Sprintf("verify host key of %s: %v", e.Host, e.Err) }

// Unwrap returns x/crypto's error.
func (e *HostKeyError) Unwrap() error { return e.Err }

// HostKeyProblem marks host key verification failures for callers that report them apart.
func (e *HostKeyError) HostKeyProblem() bool { return true }

// hostKeys verifies host keys against one known_hosts file and, when asked, appends keys of
// hosts it has never seen (trust on first use). Safe for concurrent dials: appends are
// serialised by a mutex (this process) and flock (other processes).
type hostKeys struct {
	file   string
	tofu   bool
	logger *slog.Logger

	mu sync.Mutex
	db *knownhosts.HostKeyDB
}

func newHostKeys(file string, tofu bool, logger *slog.Logger) (*hostKeys, error) {
	if file == "" {
		return nil, errors.New("no known_hosts file configured: host keys are always verified")
	}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) && tofu {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create known_hosts %s: %w", file, err)
		}
		f.Close()
	}
	db, err := knownhosts.NewDB(file)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w", file, err)
	}
	return &hostKeys{file: file, tofu: tofu, logger: logger, db: db}, nil
}

func (k *hostKeys) current() *knownhosts.HostKeyDB {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.db
}

// algorithms is the HostKeyAlgorithms list for addr (host:port): the types of the keys
// known_hosts has for it, so the server offers a key we can check. Empty for unknown hosts.
func (k *hostKeys) algorithms(addr string) []string {
	return k.current().HostKeyAlgorithms(addr)
}

// callback is the ssh.HostKeyCallback for one dial to a target: trust on first use applies
// when it was asked for.
func (k *hostKeys) callback() ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err, unknown := k.check(k.current(), hostname, remote, key)
		if unknown && k.tofu {
			return k.trust(hostname, remote, key)
		}
		return err
	}
}

// NotConsoleKeyError: a server presented a host key other than the ones its console printed
// (after its rebuild). The connection is refused: an old key, or a man in the middle.
type NotConsoleKeyError struct {
	Host string
	Want []string // fingerprints printed on the console
	Got  string   // fingerprint of the key the host presented
}

func (e *NotConsoleKeyError) Error() string {
	return fmt.Sprintf("host %s presented host key %s, not one its console printed (%s): refusing to connect",
		e.Host, e.Got, strings.Join(e.Want, ", "))
}

// HostKeyProblem marks host key verification failures for callers that report them apart.
func (e *NotConsoleKeyError) HostKeyProblem() bool { return true }

// HostKeyChanged: the key is not the expected one.
func (e *NotConsoleKeyError) HostKeyChanged() bool { return true }

// pinnedCallback accepts exactly the given keys (a server's console keys).
func pinnedCallback(given []ssh.PublicKey) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		for _, g := range given {
			if bytes.Equal(g.Marshal(), key.Marshal()) {
				return nil
			}
		}
		want := make([]string, len(given))
		for i, g := range given {
			want[i] = ssh.FingerprintSHA256(g)
		}
		return &NotConsoleKeyError{Host: knownhosts.Normalize(hostname), Want: want, Got: ssh.FingerprintSHA256(key)}
	}
}

// bastionCallback is the ssh.HostKeyCallback for the bastion, the one door to every zone:
// its key must be known (known_hosts) or given (given, authorized_keys lines); trust on first
// use never applies to it.
func (k *hostKeys) bastionCallback(given []ssh.PublicKey) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if len(given) > 0 {
			for _, g := range given {
				if bytes.Equal(g.Marshal(), key.Marshal()) {
					return nil
				}
			}
			want := make([]string, len(given))
			for i, g := range given {
				want[i] = ssh.FingerprintSHA256(g) + " (the bastion's host_keys)"
			}
			return &HostKeyChangedError{Host: knownhosts.Normalize(hostname), Want: want, Got: ssh.FingerprintSHA256(key), KnownHosts: k.file}
		}
		err, unknown := k.check(k.current(), hostname, remote, key)
		if unknown {
			return &UnknownBastionError{UnknownHostError: err.(*UnknownHostError)}
		}
		return err
	}
}

// UnknownBastionError: the bastion is not in known_hosts and its key was not given. Trust on
// first use does not apply to the bastion: every target is reached through it.
type UnknownBastionError struct{ *UnknownHostError }

func (e *UnknownBastionError) Error() string {
	return fmt.Sprintf("bastion %s is not in %s (it presented %s), and trust on first use never applies to the bastion: "+
		"verify that fingerprint out of band and add its key (ssh-keyscan %s >> %s), or give it in the bastion block",
		e.Host, e.KnownHosts, e.Fingerprint, e.Host, e.KnownHosts)
}

// Unwrap lets callers that look for an *UnknownHostError find it.
func (e *UnknownBastionError) Unwrap() error { return e.UnknownHostError }

// ParseHostKeys reads public keys in authorized_keys form ("ssh-ed25519 AAAA... comment").
func ParseHostKeys(lines []string) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for _, l := range lines {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(l))
		if err != nil {
			return nil, fmt.Errorf("parse host key %.40q: %w", l, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// check verifies key against db: nil, *HostKeyChangedError, *UnknownHostError (unknown set)
// or another verification error (a revoked key).
func (k *hostKeys) check(db *knownhosts.HostKeyDB, hostname string, remote net.Addr, key ssh.PublicKey) (err error, unknown bool) {
	err = db.HostKeyCallback()(hostname, remote, key)
	if err == nil {
		return nil, false
	}
	var ke *xknownhosts.KeyError
	if !errors.As(err, &ke) {
		return &HostKeyError{Host: hostname, Err: err}, false
	}
	host := knownhosts.Normalize(hostname)
	got := ssh.FingerprintSHA256(key)
	if len(ke.Want) > 0 {
		want := make([]string, len(ke.Want))
		for i, w := range ke.Want {
			want[i] = fmt.Sprintf("%s (%s:%d)", ssh.FingerprintSHA256(w.Key), w.Filename, w.Line)
		}
		return &HostKeyChangedError{Host: host, Want: want, Got: got, KnownHosts: k.file}, false
	}
	return &UnknownHostError{Host: host, Fingerprint: got, KnownHosts: k.file}, true
}

// trust appends the key of a host never seen before to known_hosts. Another dial (or another
// process) may have added the host since this one looked: re-read the file under the lock
// and check again, so a host is written once and a different key is still refused.
func (k *hostKeys) trust(hostname string, remote net.Addr, key ssh.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	f, err := os.OpenFile(k.file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("trust host key of %s: %w", hostname, err)
	}
	defer f.Close() // also releases the flock
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("trust host key of %s: lock %s: %w", hostname, k.file, err)
	}
	db, err := knownhosts.NewDB(k.file)
	if err != nil {
		return fmt.Errorf("re-read known_hosts %s: %w", k.file, err)
	}
	k.db = db
	if err, unknown := k.check(db, hostname, remote, key); !unknown {
		return err // added meanwhile: the same key (nil) or another one (refused)
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			f.Write([]byte("\n"))
		}
	}
	if err := knownhosts.WriteKnownHost(f, hostname, remote, key); err != nil {
		return fmt.Errorf("trust host key of %s: write %s: %w", hostname, k.file, err)
	}
	if db, err = knownhosts.NewDB(k.file); err != nil {
		return fmt.Errorf("re-read known_hosts %s: %w", k.file, err)
	}
	k.db = db
	k.logger.Warn("trusted a host key on first use", logKeyHost, knownhosts.Normalize(hostname),
		"fingerprint", ssh.FingerprintSHA256(key), "type", key.Type(), "known_hosts", k.file)
	return nil
}

// WriteKnownHosts writes a known_hosts file at path (mode 0600): the operator's file base
// (it holds the bastion's key; a missing one counts as empty) followed by lines, the host
// keys read from servers' consoles (KnownHostsLines). hardenctl verifies the servers it
// booted this way, never by trusting on first use.
func WriteKnownHosts(path, base, lines string) error {
	b, err := os.ReadFile(base)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read known_hosts: %w", err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	if err := os.WriteFile(path, append(b, lines...), 0o600); err != nil {
		return fmt.Errorf("write known_hosts: %w", err)
	}
	return nil
}
