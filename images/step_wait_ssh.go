package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hardenctl/hardenctl/hardening"
)

// stepWaitSSH reads the builder's host keys from its console (no trust on first use), writes
// them with the operator's known_hosts into the work directory, and connects through the
// bastion, retrying until sshd answers. The dialer and the session it opens are the build's
// until its cleanup closes them.
type stepWaitSSH struct {
	p      *Pipeline
	dialer hardening.Dialer
	conn   hardening.Conn
}

func (*stepWaitSSH) Name() string { return "wait for ssh" }

func (s *stepWaitSSH) Run(ctx context.Context, b *build) error {
	p := s.p
	wctx, cancel := context.WithTimeout(ctx, b.spec.bootTimeout())
	defer cancel()
	var lines string
	for {
		out, err := p.Cloud.ConsoleOutput(wctx, b.server.ID)
		if err != nil {
			return err
		}
		if lines, err = p.SSH.ConsoleKnownHosts(out, b.server.Address); err != nil {
			return fmt.Errorf("builder %s: %w", b.server.ID, err)
		}
		if lines != "" {
			break
		}
		if err := sleep(wctx, 2*time.Second); err != nil {
			return fmt.Errorf("builder %s printed no SSH host keys on its console: %w", b.server.ID, err)
		}
	}
	known := filepath.Join(b.workDir, "known_hosts")
	if err := p.SSH.WriteKnownHosts(known, lines); err != nil {
		return err
	}
	b.knownHosts = known
	d, err := p.SSH.Dialer(wctx, known, b.keyFile)
	if err != nil {
		return err
	}
	s.dialer, b.dialer = d, d
	host := hardening.Host{Name: b.name, Address: b.server.Address}
	var last error
	for {
		conn, err := d.Dial(wctx, host)
		if err == nil {
			s.conn, b.conn = conn, conn
			return nil
		}
		var changed hostKeyChanged
		if errors.As(err, &changed) && changed.HostKeyChanged() {
			return fmt.Errorf("builder %s answers with a host key its console did not print: %w", b.server.Address, err)
		}
		last = err
		if err := sleep(wctx, 2*time.Second); err != nil {
			return fmt.Errorf("SSH to builder %s through the bastion: %w (last: %v)", b.server.Address, err, last)
		}
	}
}

// hostKeyChanged is satisfied by the SSH layer's error for a host that presents another key
// than known_hosts has.
type hostKeyChanged interface {
	error
	HostKeyChanged() bool
}

// Cleanup closes the session and the dialer it opened (whatever happens: they are this
// machine's), and removes the known_hosts file unless the builder is kept.
func (s *stepWaitSSH) Cleanup(_ context.Context, b *build) error {
	if s.conn != nil {
		s.conn.Close()
	}
	if c, ok := s.dialer.(io.Closer); ok {
		c.Close()
	}
	if b.knownHosts == "" || b.keep {
		return nil
	}
	if err := os.Remove(b.knownHosts); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
