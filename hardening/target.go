package hardening

import (
	"context"
	"io"
)

// Host is one target to scan or harden.
type Host struct {
	Name    string // how reports name it (a server name, or the address given with --host)
	Address string // host or host:port, as reached from the bastion (or directly without one)
}

// Conn is one verified SSH session to a host, possibly through the bastion. The SSH
// transport (package remote's Session, wired in cmd/hardenctl) satisfies it; the oscap runner
// needs nothing more, so its tests can use a fake. This package imports no SSH library.
type Conn interface {
	// Run runs a shell command line on the host (through sudo when the login user is not
	// root) and returns its exit status. A non-zero exit is not an error; err is set only
	// when the command could not be run or ctx ended first (the remote process is then
	// killed).
	Run(ctx context.Context, cmd string, stdout, stderr io.Writer) (exit int, err error)
	// Upload writes r to path on the host (over SFTP) with the given permission bits.
	Upload(ctx context.Context, path string, r io.Reader, mode uint32) error
	// Download copies the file at path on the host into w (over SFTP).
	Download(ctx context.Context, path string, w io.Writer) error
	Close() error
}

// Dialer opens Conns to hosts; one Dialer shares one bastion connection among all of them.
// A Dialer that reaches hosts through a bastion also tells harden which host is the bastion
// (bastionDialer, oscap_harden.go). Host key failures it returns have a HostKeyProblem() bool
// method that reports true (hostKeyProblem, fleet.go).
type Dialer interface {
	Dial(ctx context.Context, h Host) (Conn, error)
}
