package images

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/profiles"
)

// Spec is one image to build, as the configuration's image block says (SpecFor).
type Spec struct {
	Name       string     // the published image's name
	Config     string     // the configuration's name, for ownership tags
	Source     ImageQuery // the base image
	MostRecent bool       // several sources match: take the newest instead of failing
	Flavor     string
	Network    string
	Mirrors    []Mirror
	Registries []Registry
	Profile    profiles.Profile
	Content    hardening.Datastreams // the operator's pinned datastreams
	Tailoring  []byte
	MinScore   float64 // the gate: below it nothing is published
	Keep       int     // managed images of this name to keep (0: keep all)
	Retire     string  // "deactivate" (default) or "delete" for images beyond Keep
	// SSHUser is the builder's login user (default root): the key pair's key is authorized
	// for root and, on images that have it, for this user.
	SSHUser string
	// BastionGroup is the Neutron name of the bastion's security group (owned by Config):
	// SSH into the builder comes only from its members. Empty: there is no bastion, and
	// nothing is built.
	BastionGroup string
	// KeepBuilderOnFailure leaves a failed build's builder, key pair and group for
	// debugging, with the private key and known_hosts that reach it (Result.Kept).
	KeepBuilderOnFailure bool
	// Timeouts: to ACTIVE and SSH (default 10 min), for the hardening (default 30 min).
	BootTimeout, HardenTimeout time.Duration
}

// Mirror is an internal package repository the builder must use instead of public ones.
type Mirror struct {
	Name       string
	Kind       string // "apt" or "yum"
	URL        string
	Suites     []string // apt: suites (default bookworm)
	Components []string // apt: components (default main)
	Trusted    bool     // no signature check (apt [trusted=yes], yum gpgcheck=0): test beds only
	// GPGKey is the repository's signing key (ASCII-armored, the mirror's gpg_key file): it
	// is installed on the builder and named by the repository definition (apt signed-by,
	// yum gpgkey). None: apt uses the image's keyring, yum its imported keys.
	GPGKey []byte
}

// Registry is an internal container registry mirror.
type Registry struct {
	Name        string
	URL         string // host[:port]
	BlockPublic bool   // block docker.io, quay.io, ghcr.io, registry.k8s.io...
}

// SpecFor turns the configuration's image block name into the pipeline's spec: the profile
// it is built and gated with (profiles.ForImage), the operator's datastreams from the
// compliance block's content directory, the profile's tailoring file, the mirrors with their
// signing keys, the registries, and the bastion's group (the only way SSH reaches a builder).
func SpecFor(cfg *config.Config, name string) (Spec, error) {
	ib := cfg.Image(name)
	if ib == nil {
		var names []string
		for _, i := range cfg.Images {
			names = append(names, i.Name)
		}
		return Spec{}, fmt.Errorf("no image block %q in the configuration (there are: %s)", name, strings.Join(names, ", "))
	}
	prof, err := profiles.ForImage(cfg, ib)
	if err != nil {
		return Spec{}, err
	}
	content, err := hardening.Content{Dir: cfg.Compliance.ContentDir}.Load()
	if err != nil {
		return Spec{}, fmt.Errorf("load compliance content from %s: %w", cfg.Compliance.ContentDir, err)
	}
	var tailoring []byte
	if prof.Tailoring != "" {
		if tailoring, err = os.ReadFile(prof.Tailoring); err != nil {
			return Spec{}, fmt.Errorf("profile %s: read tailoring: %w", prof.Name, err)
		}
	}
	spec := Spec{Name: ib.Name, Config: cfg.Name,
		Source:     ImageQuery{Name: ib.Source.Name, Tags: ib.Source.Tags, Properties: ib.Source.Properties},
		MostRecent: ib.Source.MostRecent, Flavor: ib.Flavor, Network: ib.Network, Profile: prof, Content: content,
		Tailoring: tailoring, MinScore: prof.MinScore, Keep: ib.Keep, Retire: ib.Retire,
		SSHUser: ib.SSHUser, KeepBuilderOnFailure: ib.KeepBuilderOnFailure}
	if cfg.Bastion != nil {
		spec.BastionGroup = plan.GroupName(cfg, "bastion")
	}
	for _, name := range ib.Mirrors {
		m := cfg.Mirror(name)
		mirror := Mirror{Name: m.Name, Kind: m.Kind, URL: m.URL, Suites: m.Suites, Components: m.Components, Trusted: m.Trusted}
		if m.GPGKey != "" {
			if mirror.GPGKey, err = os.ReadFile(m.GPGKey); err != nil {
				return Spec{}, fmt.Errorf("mirror %s: read gpg_key: %w", m.Name, err)
			}
		}
		spec.Mirrors = append(spec.Mirrors, mirror)
	}
	for _, name := range ib.Registries {
		r := cfg.Registry(name)
		spec.Registries = append(spec.Registries, Registry{Name: r.Name, URL: r.URL, BlockPublic: r.BlockPublic})
	}
	return spec, nil
}
