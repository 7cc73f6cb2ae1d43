package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
)

// stepKeyPair makes a key for this build only: its private half never leaves the work
// directory (mode 0600), its public half goes to Nova as the builder's key pair.
type stepKeyPair struct {
	p *Pipeline
}

func (*stepKeyPair) Name() string { return "key pair" }

func (s *stepKeyPair) Run(ctx context.Context, b *build) error {
	priv, pub, err := s.p.SSH.NewKeyPair("hardenctl build " + b.id)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(b.workDir, "id_ed25519")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		return err
	}
	b.keyFile = keyFile
	if err := s.p.Cloud.CreateKeyPair(ctx, b.name, pub); err != nil {
		return err
	}
	b.keyPair = b.name
	return nil
}

// Cleanup deletes the key pair and the private key, unless the builder is kept: then both
// stay, so that the kept builder can be reached (Result.Kept names the key file).
func (s *stepKeyPair) Cleanup(ctx context.Context, b *build) error {
	if b.keep {
		return nil
	}
	var errs []error
	if b.keyPair != "" {
		errs = append(errs, s.p.Cloud.DeleteKeyPair(ctx, b.keyPair))
	}
	if b.keyFile != "" {
		if err := os.Remove(b.keyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
