package health

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/remote"
)

// ForFleet builds the gate of a fleet's rollouts from the configuration: the ssh and bastion
// blocks (remote.FromConfig; the bastion verified by the operator's known_hosts or its given
// keys, the servers by their console keys only), and, when the fleet's health block has a
// min_score, the profile the fleet's image was built with (profiles.ForRun, as scan --fleet
// does), its tailoring and the pinned datastream from the compliance block's content
// directory. runDir receives each server's scan results. Close the returned dialer's
// bastion connection with close when the rollout is over.
func ForFleet(ctx context.Context, cfg *config.Config, fleet string, console Console, runDir string, logger *slog.Logger) (*Gate, func() error, error) {
	f := cfg.Fleet(fleet)
	if f == nil {
		return nil, nil, fmt.Errorf("no fleet %q in the configuration", fleet)
	}
	g := &Gate{Console: console, Logger: logger}
	h := f.Upgrade.Health
	if h.MinScore != nil {
		choice, err := profiles.ForRun(cfg, "", []string{fleet})
		if err != nil {
			return nil, nil, fmt.Errorf("the compliance gate of fleet %s: %w", fleet, err)
		}
		content, err := hardening.Content{Dir: cfg.Compliance.ContentDir}.Load()
		if err != nil {
			return nil, nil, fmt.Errorf("the compliance gate of fleet %s: %w", fleet, err)
		}
		if len(content) == 0 {
			return nil, nil, fmt.Errorf("the compliance gate of fleet %s: no datastreams (*-ds.xml) in %s", fleet, cfg.Compliance.ContentDir)
		}
		if choice.Datastream != "" {
			if _, err := content.Named(choice.Datastream); err != nil {
				return nil, nil, fmt.Errorf("the compliance gate of fleet %s: %w", fleet, err)
			}
		}
		var tailoring []byte
		if choice.Tailoring != "" {
			if tailoring, err = os.ReadFile(choice.Tailoring); err != nil {
				return nil, nil, fmt.Errorf("read the tailoring of profile %s: %w", choice.Name, err)
			}
		}
		g.Scan = Scan{Content: content, Profile: choice.Profile, Tailoring: tailoring, Timeout: cfg.Compliance.Timeout,
			RunDir: runDir, LoginUser: cfg.SSH.User}
		g.ScanSource = choice.Source
	}
	sc := remote.FromConfig(cfg.SSH, cfg.Bastion)
	sc.TrustOnFirstUse = false // rebuilt servers are verified by their console keys, never trusted blindly
	d, err := remote.NewDialer(ctx, sc, logger)
	if err != nil {
		return nil, nil, err
	}
	g.SSH = RemoteDialer{d}
	return g, d.Close, nil
}
