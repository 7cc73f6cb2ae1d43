package main

import (
	"context"
	"log/slog"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/remote"
)

// The SSH transport (package remote) wired to the interfaces the engines declare: the
// scanner's Dialer and Conn, the image pipeline's SSH.
var (
	_ hardening.Conn   = (*remote.Session)(nil)
	_ hardening.Dialer = sshTransport{}
	_ images.SSH       = buildSSH{}
)

// sshTransport is a remote.Dialer as the scanner sees it; it also tells harden which host is
// the bastion (remote.Dialer's BastionUser and ProveBastionForwarding are promoted).
type sshTransport struct{ *remote.Dialer }

// dialSSH checks cfg, loads the keys and known_hosts and connects to the bastion (if any).
func dialSSH(ctx context.Context, cfg remote.Config, logger *slog.Logger) (sshTransport, error) {
	d, err := remote.NewDialer(ctx, cfg, logger)
	if err != nil {
		return sshTransport{}, err
	}
	return sshTransport{d}, nil
}

// Dial opens a verified session to h.
func (t sshTransport) Dial(ctx context.Context, h hardening.Host) (hardening.Conn, error) {
	s, err := t.Dialer.Dial(ctx, remote.Host(h))
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// IsBastion reports whether h is the configured bastion.
func (t sshTransport) IsBastion(h hardening.Host) bool { return t.Dialer.IsBastion(remote.Host(h)) }

// buildSSH is the image pipeline's SSH: the configuration's keys and bastion, the build's own
// key, and a known_hosts file that adds the builder's console keys to the operator's.
type buildSSH struct {
	cfg    *config.Config
	user   string // the builder's login user
	logger *slog.Logger
}

func (buildSSH) NewKeyPair(comment string) ([]byte, string, error) {
	return remote.NewKeyPair(comment)
}

func (buildSSH) ConsoleKnownHosts(console, address string) (string, error) {
	keys, err := remote.ParseConsoleHostKeys(console)
	if err != nil || keys == nil {
		return "", err
	}
	return remote.KnownHostsLines(address, keys), nil
}

func (s buildSSH) WriteKnownHosts(path, lines string) error {
	return remote.WriteKnownHosts(path, s.cfg.SSH.KnownHosts, lines)
}

func (s buildSSH) Dialer(ctx context.Context, knownHosts, identity string) (hardening.Dialer, error) {
	ssh := s.cfg.SSH
	if s.user != "" {
		ssh.User = s.user
	}
	sc := remote.FromConfig(ssh, s.cfg.Bastion)
	sc.IdentityFiles = append([]string{identity}, sc.IdentityFiles...)
	sc.KnownHostsFile = knownHosts
	sc.TrustOnFirstUse = false // builders are verified by their console keys, never trusted blindly
	return dialSSH(ctx, sc, s.logger)
}
