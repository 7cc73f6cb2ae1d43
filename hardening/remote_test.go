package hardening

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/remote"
)

// remoteDialer is the SSH transport (package remote) as the scanner sees it, for the tests
// on real hosts; cmd/hardenctl wires the commands the same way (ssh.go there).
type remoteDialer struct{ *remote.Dialer }

var (
	_ Dialer        = remoteDialer{}
	_ bastionDialer = remoteDialer{}
	_ Conn          = (*remote.Session)(nil)
)

func (d remoteDialer) Dial(ctx context.Context, h Host) (Conn, error) {
	s, err := d.Dialer.Dial(ctx, remote.Host(h))
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (d remoteDialer) IsBastion(h Host) bool { return d.Dialer.IsBastion(remote.Host(h)) }

// sshBedScript runs one of scripts/testhosts' scripts for instance.
func sshBedScript(t *testing.T, instance int, name string, args ...string) (string, error) {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "scripts", "testhosts", name))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{p}, args...)...)
	cmd.WaitDelay = 5 * time.Second // a host that kept our pipe must not hang the test
	cmd.Env = append(os.Environ(), fmt.Sprintf("HC_INSTANCE=%d", instance), "TESTHOSTS="+testHostsDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}
