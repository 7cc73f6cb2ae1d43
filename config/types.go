package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is one evaluated configuration: the blocks of every file of a directory, with
// variables, locals and references between blocks resolved. It holds what the
// configuration says, never what the cloud has.
type Config struct {
	// Name identifies the configuration in ownership tags. It comes from the top-level
	// `name` attribute, or else the base name of the loaded directory.
	Name    string
	Cloud   Cloud
	Bastion *Bastion // nil when the configuration has no bastion block
	Zones   []*Zone  // sorted by name
	// Variables are the input variables with their final values, sorted by name.
	Variables []*Variable

	// SSH and Compliance hold their defaults when the configuration has no such block.
	SSH        SSH
	Compliance Compliance
	// The blocks below are each sorted by name.
	Profiles   []*Profile
	Mirrors    []*Mirror
	Registries []*Registry
	Images     []*Image
	Fleets     []*Fleet
	Schedules  []*Schedule
}

// Profile returns the profile block called name, or nil.
func (c *Config) Profile(name string) *Profile {
	return find(c.Profiles, name, func(p *Profile) string { return p.Name })
}

// Mirror returns the mirror called name, or nil.
func (c *Config) Mirror(name string) *Mirror {
	return find(c.Mirrors, name, func(m *Mirror) string { return m.Name })
}

// Registry returns the registry called name, or nil.
func (c *Config) Registry(name string) *Registry {
	return find(c.Registries, name, func(r *Registry) string { return r.Name })
}

// Image returns the image block called name, or nil.
func (c *Config) Image(name string) *Image {
	return find(c.Images, name, func(i *Image) string { return i.Name })
}

// Fleet returns the fleet called name, or nil.
func (c *Config) Fleet(name string) *Fleet {
	return find(c.Fleets, name, func(f *Fleet) string { return f.Name })
}

func find[T any](list []*T, name string, nameOf func(*T) string) *T {
	for _, x := range list {
		if nameOf(x) == name {
			return x
		}
	}
	return nil
}

// Zone returns the zone called name, or nil.
func (c *Config) Zone(name string) *Zone {
	for _, z := range c.Zones {
		if z.Name == name {
			return z
		}
	}
	return nil
}

// Cloud says which cloud to talk to. Both fields may be empty: the OS_* environment
// variables are used then.
type Cloud struct {
	Cloud     string // clouds.yaml entry
	Region    string
	DeclRange hcl.Range
}

// Bastion is the one way in: every zone accepts SSH only from the bastion's group, and the
// bastion accepts SSH only from AllowFrom.
type Bastion struct {
	AllowFrom []netip.Prefix // admin networks, masked (10.1.2.3/8 is an error, not 10.0.0.0/8)
	// AllowFromAnywhere is the explicit opt-in (`allow_from_anywhere = true`) for an
	// AllowFrom that holds every IPv4 or every IPv6 address; without it that is an error.
	AllowFromAnywhere bool
	// Address is where the operator's SSH reaches the bastion, as "host:port" (port 22
	// when not written). Empty: the caller finds it (the bastion server's address).
	Address string
	User    string // SSH user on the bastion; default SSH.User
	// HostKeys are the bastion's public host keys (authorized_keys form), when given: the
	// bastion must present one of them. Without them it must be in known_hosts: trust on
	// first use never applies to the bastion.
	HostKeys  []string
	Image     ImageRef // for the bastion's server; zero when not set
	Flavor    string
	Network   string
	DeclRange hcl.Range
}

// Defaults of the ssh and compliance blocks.
const (
	DefaultSSHConnectTimeout     = 20 * time.Second
	DefaultSSHConcurrency        = 10
	DefaultComplianceConcurrency = 10
	DefaultComplianceTimeout     = 30 * time.Minute
)

// SSH says how hardenctl reaches servers (through the bastion): as whom, with which keys,
// and against which known hosts. Paths are absolute or relative to the configuration's
// directory, with ~ expanded.
type SSH struct {
	User          string   // empty: the caller decides (a flag, the image's ssh_user)
	IdentityFiles []string // private keys, tried in order
	UseAgent      bool     // default true: keys from ssh-agent too (SSH_AUTH_SOCK)
	// KnownHosts is the known_hosts file; default ~/.ssh/known_hosts, or empty when no home
	// directory is known.
	KnownHosts string
	// TrustOnFirstUse writes the key of a host not in KnownHosts instead of refusing it.
	// A changed key is refused always.
	TrustOnFirstUse bool
	ConnectTimeout  time.Duration // default DefaultSSHConnectTimeout
	Concurrency     int           // hosts at once; default DefaultSSHConcurrency
	DeclRange       hcl.Range     // empty when there is no ssh block
}

// Compliance holds the settings of scans and hardening runs.
type Compliance struct {
	// ContentDir holds the operator's SCAP datastreams; default DIR/content, DIR being the
	// configuration's directory. Profiles' datastreams are relative to it.
	ContentDir  string
	ReportDir   string        // where each run writes its reports; default DIR/reports
	Concurrency int           // hosts scanned at once; default DefaultComplianceConcurrency
	Timeout     time.Duration // per host; default DefaultComplianceTimeout
	// MinScore is the score below which a host fails; nil: no gate unless a profile, image
	// or fleet health check sets one.
	MinScore  *float64
	Profile   ProfileRef // the profile scans use by default; zero when not set
	DeclRange hcl.Range  // empty when there is no compliance block
}

// ProfileRef names a hardening profile: a profile block of the configuration
// (profile.node) or a built-in profile named by a string ("standard"), which the profiles
// package resolves.
type ProfileRef struct {
	Name    string // empty: no profile named
	Builtin bool   // true: a built-in profile; false: Config.Profile(Name)
	Range   hcl.Range
}

// Profile is a user-defined hardening profile: a SCAP profile and what hardenctl adds.
type Profile struct {
	Name    string
	Extends string // a built-in profile this one starts from; empty: none
	// Datastream is the file name of a SCAP datastream in Compliance.ContentDir (checked to
	// exist there), as scans pick it from the loaded content; empty: picked per target OS.
	Datastream string
	// SCAPProfile is the XCCDF profile id for every OS; SCAPProfileByOS, when set, maps an
	// OS key ("debian12", "rhel9") to the id for that OS instead. See SCAPProfileFor.
	SCAPProfile     string
	SCAPProfileByOS map[string]string
	Tailoring       string   // XCCDF tailoring file; empty: none
	MinScore        *float64 // nil: Compliance.MinScore
	Audit           *Audit   // nil when there is no audit block
	DeclRange       hcl.Range
}

// SCAPProfileFor returns the XCCDF profile id for the OS key os, or "" when none applies.
func (p *Profile) SCAPProfileFor(os string) string {
	if id, ok := p.SCAPProfileByOS[os]; ok {
		return id
	}
	return p.SCAPProfile
}

// Audit is what a profile adds to the host's auditd rules.
type Audit struct {
	WatchEtcd    bool     // watch etcd's data directory (masters)
	WatchSecrets string   // watch secret tmpfs mounts whose path holds this; empty: no watch
	Rules        []string // extra auditctl rules, like "-w /etc/shadow -p wa -k shadow"
	DeclRange    hcl.Range
}

// Mirror kinds.
const (
	MirrorAPT = "apt"
	MirrorYUM = "yum"
)

// Mirror is an internal package repository that images use instead of public ones.
type Mirror struct {
	Name       string
	Kind       string   // MirrorAPT or MirrorYUM
	URL        string   // http, https or file
	Suites     []string // apt only
	Components []string // apt only; default ["main"]
	Trusted    bool     // no signature check (apt [trusted=yes], yum gpgcheck=0)
	GPGKey     string   // path of the repository's signing key; empty: none
	DeclRange  hcl.Range
}

// Registry is an internal container registry that images are pointed at.
type Registry struct {
	Name        string
	URL         string // host[:port][/path], without a scheme
	BlockPublic bool   // block public registries (Docker Hub, quay.io, ...)
	DeclRange   hcl.Range
}

// ImageRef names an image: an image block of the configuration (image.node) or a Glance
// image by name.
type ImageRef struct {
	Name    string // empty: no image named
	Managed bool   // true: Config.Image(Name); false: a Glance image of that name
	Range   hcl.Range
}

// Ways to retire the older images of a name.
const (
	RetireDeactivate = "deactivate"
	RetireDelete     = "delete"
)

// Image is a pre-hardened image that `image build` makes from Source.
type Image struct {
	Name       string
	Source     ImageSource
	Flavor     string     // the builder server's flavor
	Network    string     // the builder server's network; empty: the cloud's default
	Mirrors    []string   // names of mirror blocks
	Registries []string   // names of registry blocks
	Profile    ProfileRef // zero: Compliance.Profile
	MinScore   *float64   // the gate; nil: the profile's, else Compliance.MinScore
	// Keep is how many managed images of this name are kept; older ones are retired per
	// Retire. 0: none is retired.
	Keep                 int
	Retire               string // RetireDeactivate (default) or RetireDelete
	KeepBuilderOnFailure bool
	SSHUser              string // user on the builder; default SSH.User
	DeclRange            hcl.Range
}

// ImageSource selects the base image in Glance: by name, tags and properties; with
// MostRecent, the newest of several matches (else several matches are an error).
type ImageSource struct {
	Name       string
	Tags       []string
	Properties map[string]string
	MostRecent bool
	DeclRange  hcl.Range
}

// Upgrade strategies.
const (
	StrategyRebuild = "rebuild" // Nova rebuild: same server, ports and addresses; root disk wiped
	StrategyReplace = "replace" // a new server, then the old one deleted
)

// Fleet is a group of identical servers in a zone.
type Fleet struct {
	Name         string
	Image        ImageRef
	Zone         string // a zone of the configuration
	Flavor       string
	Count        int
	Network      string // empty: the cloud's default
	KeyPair      string // Nova key pair; empty: none
	Upgrade      Upgrade
	AllowRebuild bool // apply may rebuild servers onto a new image (wipes root disks)
	DeclRange    hcl.Range
}

// Upgrade says how a fleet moves onto a new image (package rollout carries it out).
type Upgrade struct {
	Strategy       string // StrategyRebuild (the default; StrategyReplace is refused until rollout implements it)
	MaxUnavailable Amount // servers out of service at once; default 1
	// Canary is how many servers are rolled first, followed by a bake before the rest
	// (default 1; 0: no canary).
	Canary      int
	MaxFailures Amount        // servers that may fail their gate before OnFailure applies; default 0
	OnFailure   string        // OnFailureRollback (default), OnFailurePause or OnFailureAbort
	Deadline    time.Duration // the whole rollout's bound; 0: none
	Health      Health
	DeclRange   hcl.Range // empty when there is no upgrade block
}

// What a rollout does when more servers failed their gate than MaxFailures allows.
const (
	OnFailureRollback = "rollback" // rebuild the servers already moved back onto their previous image
	OnFailurePause    = "pause"    // stop and wait for resume, abort or rollback
	OnFailureAbort    = "abort"    // stop, leaving the servers as they are
)

// Amount is a number of servers written as a count (2) or as a percentage of the fleet
// ("25%").
type Amount struct {
	N       int  // the count, or the percentage when Percent
	Percent bool // N is a percentage (0 to 100)
}

// Of is the amount for a fleet of total servers: a percentage rounds down.
func (a Amount) Of(total int) int {
	if a.Percent {
		return total * a.N / 100
	}
	return a.N
}

func (a Amount) String() string {
	if a.Percent {
		return fmt.Sprintf("%d%%", a.N)
	}
	return fmt.Sprint(a.N)
}

// Health is the gate a rebuilt server passes before it counts as available again.
type Health struct {
	SSH       bool          // default true: the server answers SSH through the bastion (its new host key)
	TCP       []int         // ports that must accept connections, probed from inside over SSH
	MinScore  *float64      // nil: no compliance gate
	Warmup    time.Duration // wait after the rebuild before the first probe; default 0
	Bake      time.Duration // wait after a pass (and after the canary) before going on; default 0
	Timeout   time.Duration // per server, from its rebuild to its gate passed; default 15m
	DeclRange hcl.Range
}

// DefaultGateTimeout bounds one server's rebuild and gate when health sets no timeout.
const DefaultGateTimeout = 15 * time.Minute

// Zone is one network zone; it becomes one managed security group.
type Zone struct {
	Name        string
	Description string
	// IPVersions are the ethertypes that rules whose peer is a group (a zone or the
	// bastion) are made for. Default [4, 6]. Rules whose peer is a CIDR take the CIDR's.
	IPVersions []int
	Ingress    []*Rule
	Egress     []*Rule
	DeclRange  hcl.Range
}

// Direction is the way traffic flows, seen from the zone that declares the rule.
type Direction string

const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
)

// Protocols a rule may name.
const (
	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
	ProtoICMP = "icmp"
	ProtoAny  = "any"
)

// Rule is one ingress or egress block of a zone.
type Rule struct {
	Direction Direction
	Protocol  string      // ProtoTCP (default), ProtoUDP, ProtoICMP or ProtoAny
	Ports     []PortRange // empty: every port; always empty for icmp and any
	Peers     []Peer      // `from` for ingress, `to` for egress; never empty
	// AllowSSH is the explicit opt-in (`allow_ssh = true`) for a rule that lets TCP port 22
	// into a zone or the bastion from anything but the bastion: an ingress rule from
	// another peer, or an egress rule to a zone or the bastion.
	AllowSSH    bool
	Description string
	DeclRange   hcl.Range
}

// PortRange is an inclusive range of ports, 1..65535; a single port has Min == Max.
type PortRange struct{ Min, Max int }

// PeerKind says what a rule's peer is.
type PeerKind int

const (
	PeerCIDR    PeerKind = iota // a network: CIDR is set
	PeerZone                    // another zone: Zone is set
	PeerBastion                 // the bastion's group
)

// Peer is the other side of a rule.
type Peer struct {
	Kind  PeerKind
	CIDR  netip.Prefix
	Zone  string
	Range hcl.Range // where the peer was written
}
