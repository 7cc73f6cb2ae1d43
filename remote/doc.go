// Package remote is hardenctl's SSH transport: verified sessions to hosts (commands, and
// files over SFTP), through one shared connection to the bastion; known_hosts verification
// with trust on first use for targets only (never for the bastion, whose key must be known or
// given); the host keys a server prints on its console, and the known_hosts file that adds
// them to the operator's; the key pairs of image builds.
//
// It is the one package that imports golang.org/x/crypto and github.com/pkg/sftp. It imports
// nothing of ours: hardening declares the Conn and Dialer it needs, images the SSH it needs,
// and cmd/hardenctl wires remote's Dialer and Session to them.
package remote
