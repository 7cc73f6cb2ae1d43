package images

import (
	"time"

	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/profiles"
)

// Spec is one image to build, as the configuration's image block says (cmd/hardenctl turns
// the block into a Spec).
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
