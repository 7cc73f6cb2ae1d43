// Package inventory finds the hosts of a configuration's fleets in the cloud, with the host
// keys their consoles printed, and writes the known_hosts file that lets hardenctl verify
// them without ever trusting on first use. Scans, harden runs and the rollouts' gates use it;
// the cloud comes in through the small interface declared here.
package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/remote"
)

// Cloud is what the inventory reads: the owned servers, and a server's console.
type Cloud interface {
	ObserveServers(ctx context.Context, owner []string) ([]plan.ObservedServer, error)
	ConsoleOutput(ctx context.Context, serverID string) (string, error)
}

// Host is one server of a fleet, as SSH reaches it.
type Host struct {
	Name     string
	Address  string
	ServerID string
	ImageID  string // the image it runs ("" for a volume-backed server)
	Fleet    string
	// Keys are the host keys its console printed (none: known_hosts must have them).
	Keys []remote.HostKey
}

// Options tune Fleets.
type Options struct {
	// KeyWait is how long to wait for a server whose console shows no host keys yet (its
	// sshd is still starting, right after a boot or rebuild); 0: do not wait.
	KeyWait time.Duration
	// Poll is the pause between console reads while waiting (default 2 s).
	Poll   time.Duration
	Logger *slog.Logger
}

// SelectFleets are the fleets named and the fleets in the zones named, sorted and without
// repeats; a name the configuration does not have is an error.
func SelectFleets(cfg *config.Config, fleets, zones []string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range fleets {
		if cfg.Fleet(f) == nil {
			return nil, fmt.Errorf("no fleet %q in the configuration", f)
		}
		want[f] = true
	}
	for _, z := range zones {
		if cfg.Zone(z) == nil {
			return nil, fmt.Errorf("no zone %q in the configuration", z)
		}
		for _, f := range cfg.Fleets {
			if f.Zone == z {
				want[f.Name] = true
			}
		}
	}
	out := make([]string, 0, len(want))
	for f := range want {
		out = append(out, f)
	}
	slices.Sort(out)
	return out, nil
}

// Fleets lists the servers of the configuration's fleets named in fleets that have an
// address, sorted by name, each with the host keys read from its console.
func Fleets(ctx context.Context, cloud Cloud, cfg *config.Config, fleets []string, opts Options) ([]Host, error) {
	want := map[string]bool{}
	for _, f := range fleets {
		want[f] = true
	}
	servers, err := cloud.ObserveServers(ctx, plan.OwnerTags(cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("list the servers of fleets %s: %w", strings.Join(fleets, ", "), err)
	}
	slices.SortFunc(servers, func(a, b plan.ObservedServer) int { return strings.Compare(a.Name, b.Name) })
	var hosts []Host
	for _, s := range servers {
		if !want[s.Fleet()] || s.Address == "" {
			continue
		}
		keys, err := ConsoleKeys(ctx, cloud, s.ID, s.Name, opts)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, Host{Name: s.Name, Address: s.Address, ServerID: s.ID, ImageID: s.ImageID, Fleet: s.Fleet(), Keys: keys})
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("no servers with an address in fleets %s", strings.Join(fleets, ", "))
	}
	return hosts, nil
}

// ConsoleKeys reads the host keys server id (named name) printed on its console, waiting
// up to opts.KeyWait for them to appear. Without keys after the wait it returns none and
// logs a warning: known_hosts must then have the server's key (never trusted on first use).
func ConsoleKeys(ctx context.Context, cloud Cloud, id, name string, opts Options) ([]remote.HostKey, error) {
	poll := opts.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	deadline := time.Now().Add(opts.KeyWait)
	for {
		out, err := cloud.ConsoleOutput(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read the console of server %s: %w", name, err)
		}
		keys, err := remote.ParseConsoleHostKeys(out)
		if err != nil {
			return nil, fmt.Errorf("server %s: %w", name, err)
		}
		if keys != nil {
			return keys, nil
		}
		if !time.Now().Add(poll).Before(deadline) {
			if opts.Logger != nil {
				opts.Logger.Warn("server printed no host keys on its console; known_hosts must have them", "server", name)
			}
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// KnownHosts writes a temporary known_hosts file: the operator's (base, may be absent) and
// the console keys of hosts. Call cleanup when done.
func KnownHosts(base string, hosts []Host) (path string, cleanup func(), err error) {
	var lines strings.Builder
	for _, h := range hosts {
		lines.WriteString(remote.KnownHostsLines(h.Address, h.Keys))
	}
	dir, err := os.MkdirTemp("", "hardenctl-known-hosts-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "known_hosts")
	if err := remote.WriteKnownHosts(path, base, lines.String()); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}
