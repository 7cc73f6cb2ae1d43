package images

import (
	"context"
	"fmt"
	"time"

	"github.com/hardenctl/hardenctl/hardening"
)

// stepHarden hardens the builder with its profile (oscap --remediate, the profile's
// additions, the SSH guard) and scans it, then opens a new session for the steps after it:
// the scanner used connections of its own, and the guard may have restarted sshd.
type stepHarden struct {
	p    *Pipeline
	conn hardening.Conn
}

func (*stepHarden) Name() string { return "harden and scan" }

func (s *stepHarden) Run(ctx context.Context, b *build) error {
	p := s.p
	host := hardening.Host{Name: b.name, Address: b.server.Address}
	sc := &hardening.Scanner{Dialer: b.dialer, Content: b.spec.Content, Profile: b.spec.Profile, Tailoring: b.spec.Tailoring,
		Remediate: true, Timeout: b.spec.hardenTimeout(), RunDir: p.RunDir, LoginUser: b.spec.SSHUser, Logger: p.Logger}
	var res hardening.HostResult
	if p.Harden != nil {
		res = p.Harden(ctx, sc, host)
	} else {
		res = sc.Host(ctx, host)
	}
	b.scan = &res
	if !res.Status.Ran() || res.Result == nil {
		return fmt.Errorf("harden and scan the builder: %s: %s", res.Status, res.Error)
	}
	conn, err := b.dialer.Dial(ctx, host)
	if err != nil {
		return fmt.Errorf("reconnect to the builder after hardening: %w", err)
	}
	s.conn, b.conn = conn, conn
	return nil
}

// Cleanup closes the session it opened.
func (s *stepHarden) Cleanup(context.Context, *build) error {
	if s.conn != nil {
		s.conn.Close()
	}
	return nil
}

func (s Spec) hardenTimeout() time.Duration {
	if s.HardenTimeout > 0 {
		return s.HardenTimeout
	}
	return 30 * time.Minute
}
