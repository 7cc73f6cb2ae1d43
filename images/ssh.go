package images

import (
	"context"

	"github.com/hardenctl/hardenctl/hardening"
)

// SSH is how a build reaches its builder. Package remote does the work (keys, console host
// keys, known_hosts, verified sessions through the bastion) and cmd/hardenctl wires it: this
// package imports no SSH library.
type SSH interface {
	// NewKeyPair makes the build's key: the private half in OpenSSH PEM form, the public half
	// in authorized_keys form.
	NewKeyPair(comment string) (private []byte, public string, err error)
	// ConsoleKnownHosts reads the SSH host keys a server printed on its console at first boot
	// and returns them as known_hosts lines for address: "" and no error while none are
	// printed yet; an error when the printed keys and fingerprints disagree.
	ConsoleKnownHosts(console, address string) (string, error)
	// WriteKnownHosts writes the file path: the operator's known_hosts (it holds the
	// bastion's key) followed by lines.
	WriteKnownHosts(path, lines string) error
	// Dialer makes a Dialer that verifies hosts against knownHostsFile alone (never trusting
	// on first use) and logs in with identityFile (the build's key) through the bastion.
	Dialer(ctx context.Context, knownHostsFile, identityFile string) (hardening.Dialer, error)
}
