package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// bastion is the one SSH connection to the jump host that every target connection is
// forwarded through (direct-tcpip channels). If it dies, the next dial reconnects once.
type bastion struct {
	cfg  BastionConfig
	addr string
	d    *Dialer

	mu     sync.Mutex
	conn   *ssh.Client // nil until connected, and after it died
	closed bool
}

// client returns the live bastion connection, connecting if there is none.
func (b *bastion) client(ctx context.Context) (*ssh.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("bastion: dialer closed")
	}
	if b.conn != nil {
		return b.conn, nil
	}
	start := time.Now()
	c, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	b.conn = c
	dead := make(chan struct{})
	go b.keepAlive(c, dead)
	go func() { // forget it when it dies, so the next dial reconnects
		err := c.Wait()
		close(dead)
		b.mu.Lock()
		if b.conn == c {
			b.conn = nil
		}
		closed := b.closed
		b.mu.Unlock()
		if !closed {
			b.d.logger.Warn("bastion connection lost", logKeyBastion, b.addr, "err", err)
		}
	}()
	b.d.logger.Debug("bastion connected", logKeyBastion, b.addr, logKeyElapsed, time.Since(start))
	return c, nil
}

// connect opens a new connection to the bastion with its own user and keys, verifying its host
// key.
func (b *bastion) connect(ctx context.Context) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d.cfg.ConnectTimeout)
	defer cancel()
	var dl net.Dialer
	nc, err := dl.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to bastion %s: %w", b.addr, timeoutCause(ctx, err))
	}
	c, err := handshake(ctx, nc, b.addr, b.d.clientConfig(b.cfg.User, b.d.bastionAuth, b.addr))
	if err != nil {
		return nil, fmt.Errorf("ssh to bastion %s@%s: %w", b.cfg.User, b.addr, err)
	}
	return c, nil
}

// proveForwarding connects to the bastion afresh (not the shared connection: sshd applies a
// changed configuration to new connections only), opens a direct-tcpip channel to probe as the
// bastion sees it, and reads an SSH banner from it.
func (b *bastion) proveForwarding(ctx context.Context, probe string) error {
	ctx, cancel := context.WithTimeout(ctx, b.d.cfg.ConnectTimeout)
	defer cancel()
	c, err := b.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() }) // forwarded conns have no deadlines
	defer stop()
	nc, err := c.DialContext(ctx, "tcp", probe)
	if err != nil {
		return fmt.Errorf("bastion %s@%s: forward to %s: %w", b.cfg.User, b.addr, probe, timeoutCause(ctx, err))
	}
	defer nc.Close()
	banner := make([]byte, 4)
	if _, err := io.ReadFull(nc, banner); err != nil {
		return fmt.Errorf("bastion %s@%s: read the SSH banner of %s through it: %w", b.cfg.User, b.addr, probe, timeoutCause(ctx, err))
	}
	if string(banner) != "SSH-" {
		return fmt.Errorf("bastion %s@%s: %s answered %q through it, not an SSH banner", b.cfg.User, b.addr, probe, banner)
	}
	return nil
}

// Keepalives on the bastion connection: long oscap runs send nothing for minutes, and a
// firewall between hardenctl and the bastion may drop idle connections; a bastion that stops
// answering is closed, so the next dial reconnects instead of hanging.
const (
	bastionKeepAlive        = 30 * time.Second
	bastionKeepAliveTimeout = 15 * time.Second
)

func (b *bastion) keepAlive(c *ssh.Client, dead <-chan struct{}) {
	t := time.NewTicker(bastionKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-dead:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-dead:
			return
		case err := <-reply:
			if err != nil {
				return // the connection is closing; Wait sees it
			}
		case <-time.After(bastionKeepAliveTimeout):
			b.d.logger.Warn("bastion does not answer keepalives, closing", logKeyBastion, b.addr)
			c.Close()
			return
		}
	}
}

// forget drops c if it is still the current connection (it failed a dial).
func (b *bastion) forget(c *ssh.Client) {
	b.mu.Lock()
	if b.conn == c {
		b.conn = nil
	}
	b.mu.Unlock()
	c.Close()
}

// dial opens a forwarded connection to addr. A refusal by the bastion (the target is down,
// or forwarding is not allowed to it) is the target's error; a failure of the bastion
// connection itself is retried once on a new connection.
func (b *bastion) dial(ctx context.Context, addr string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		c, err := b.client(ctx)
		if err != nil {
			return nil, err
		}
		nc, err := c.DialContext(ctx, "tcp", addr)
		if err == nil {
			return nc, nil
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) || ctx.Err() != nil || attempt > 0 {
			return nil, err
		}
		b.d.logger.Warn("bastion connection failed, reconnecting", logKeyBastion, b.addr, "err", err)
		b.forget(c)
	}
}

func (b *bastion) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
}
