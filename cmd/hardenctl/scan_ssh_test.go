package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the concurrent writers a shared stderr has.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The ssh block's concurrency bounds the hosts a scan connects and uploads to at once (ahead
// of the --concurrency hosts running oscap); without a configuration, Fleet's default.
func TestScanSSHConcurrencyFromConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("name = \"s\"\nssh {\n  concurrency = 3\n}\n"), 0o644)
	g := &globals{configPath: dir, stderr: io.Discard, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var o scanOptions
	if err := o.fromConfig(g, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if n := o.sshConcurrency(); n != 3 {
		t.Errorf("ssh concurrency %d, want the configuration's 3", n)
	}
	if n := (scanOptions{}).sshConcurrency(); n != 0 {
		t.Errorf("without a configuration: %d, want 0 (as many as --concurrency)", n)
	}
}
