package remote

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// sftpClient returns the connection's SFTP client, starting it on first use. It runs as the
// login user (no sudo): upload into directories that user can write.
func (c *Session) sftpClient() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	s, err := sftp.NewClient(c.client)
	if err != nil {
		return nil, fmt.Errorf("start sftp: %w", err)
	}
	c.sftp = s
	return s, nil
}

// dropSFTP closes the SFTP client if it is still s (after ctx ended mid-transfer the session
// is in an unknown state); the next transfer starts a new one.
func (c *Session) dropSFTP(s *sftp.Client) {
	c.mu.Lock()
	if c.sftp == s {
		c.sftp = nil
	}
	c.mu.Unlock()
	s.Close()
}

// whileCtx runs fn; if ctx ends first, the SFTP client is closed to abort fn.
func (c *Session) whileCtx(ctx context.Context, s *sftp.Client, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.dropSFTP(s) })
	err := fn()
	if !stop() {
		return ctx.Err()
	}
	return err
}

// Upload writes r to remote path p with mode, creating missing parent directories.
func (c *Session) Upload(ctx context.Context, p string, r io.Reader, mode uint32) error {
	s, err := c.sftpClient()
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", p, c.name, err)
	}
	err = c.whileCtx(ctx, s, func() error {
		if err := s.MkdirAll(path.Dir(p)); err != nil {
			return fmt.Errorf("create parent directory: %w", err)
		}
		f, err := s.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return err
		}
		if err := f.Chmod(os.FileMode(mode & 0o7777)); err != nil { // before any content
			f.Close()
			return fmt.Errorf("chmod %o: %w", mode, err)
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", p, c.name, err)
	}
	return nil
}

// Download copies remote file p into w.
func (c *Session) Download(ctx context.Context, p string, w io.Writer) error {
	s, err := c.sftpClient()
	if err != nil {
		return fmt.Errorf("download %s from %s: %w", p, c.name, err)
	}
	err = c.whileCtx(ctx, s, func() error {
		f, err := s.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("download %s from %s: %w", p, c.name, err)
	}
	return nil
}
