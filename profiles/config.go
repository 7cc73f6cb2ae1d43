package profiles

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hardenctl/hardenctl/config"
)

// FromConfig turns a profile reference of the configuration into the profile hosts are
// judged and hardened by: a built-in by name, or a profile block (on top of the built-in it
// extends, if any). An empty reference means the compliance block's profile, else
// "standard". MinScore is the profile's own (see Gate for the gate a run applies).
func FromConfig(cfg *config.Config, ref config.ProfileRef) (Profile, error) {
	if ref.Name == "" {
		ref = cfg.Compliance.Profile
	}
	if ref.Name == "" {
		ref = config.ProfileRef{Name: "standard", Builtin: true}
	}
	if ref.Builtin {
		return Builtin(ref.Name)
	}
	pb := cfg.Profile(ref.Name)
	if pb == nil {
		return Profile{}, fmt.Errorf("no profile block %q", ref.Name)
	}
	p := Profile{Name: pb.Name, SCAPProfile: map[string]string{}}
	if pb.Extends != "" {
		base, err := Builtin(pb.Extends)
		if err != nil {
			return Profile{}, fmt.Errorf("profile %s extends: %w", pb.Name, err)
		}
		p = base
		p.Name = pb.Name
		p.SCAPProfile = maps.Clone(base.SCAPProfile)
	}
	if pb.Datastream != "" {
		p.Datastream = pb.Datastream
	}
	if pb.SCAPProfile != "" {
		p.SCAPProfile["*"] = pb.SCAPProfile
	}
	for os, id := range pb.SCAPProfileByOS {
		p.SCAPProfile[os] = id
	}
	if pb.Tailoring != "" {
		p.Tailoring = pb.Tailoring
	}
	if pb.MinScore != nil {
		p.MinScore = *pb.MinScore
	}
	if pb.Audit != nil {
		p.WatchEtcd = p.WatchEtcd || pb.Audit.WatchEtcd
		if pb.Audit.WatchSecrets != "" {
			p.WatchSecrets = pb.Audit.WatchSecrets
		}
		p.AuditRules = append(p.AuditRules, pb.Audit.Rules...)
	}
	return p, nil
}

// Gate picks the min score: the most specific setting wins (an image's, given as specific),
// then the profile's, then the compliance block's; 0 is no gate.
func Gate(cfg *config.Config, specific *float64, p Profile) float64 {
	switch {
	case specific != nil:
		return *specific
	case p.MinScore > 0:
		return p.MinScore
	case cfg.Compliance.MinScore != nil:
		return *cfg.Compliance.MinScore
	}
	return 0
}

// ForImage is the profile an image is built, scanned and gated by: its profile (else the
// compliance block's), with MinScore set to its gate.
func ForImage(cfg *config.Config, ib *config.Image) (Profile, error) {
	p, err := FromConfig(cfg, ib.Profile)
	if err != nil {
		return Profile{}, fmt.Errorf("image %s: %w", ib.Name, err)
	}
	p.MinScore = Gate(cfg, ib.MinScore, p)
	return p, nil
}

// Choice is the profile a scan or hardening run judges its hosts by (MinScore is the
// gate), and where it came from, for the report: "from --profile", "from image NAME",
// "compliance default" or "built-in default".
type Choice struct {
	Profile
	Source string
}

// ForRun picks the profile of a run: the one named by a flag (name; a profile block of the
// configuration, else a built-in), else the profile the fleets' image was built with (with
// the image's gate), else the compliance block's, else "standard". A fleet runs a managed
// image (an image block) or a Glance image; the latter has no profile of its own. Fleets
// judged by different profiles or gates are an error: one run has one profile. cfg may be
// nil (no configuration): then only built-ins are known.
func ForRun(cfg *config.Config, name string, fleets []string) (Choice, error) {
	if name != "" {
		var p Profile
		var err error
		switch {
		case cfg == nil:
			p, err = Builtin(name)
		case cfg.Profile(name) != nil:
			p, err = FromConfig(cfg, config.ProfileRef{Name: name})
		default:
			p, err = FromConfig(cfg, config.ProfileRef{Name: name, Builtin: true})
		}
		if err != nil {
			return Choice{}, err
		}
		if cfg != nil {
			p.MinScore = Gate(cfg, nil, p)
		}
		return Choice{Profile: p, Source: "from --profile"}, nil
	}
	if cfg == nil {
		p, err := Builtin("standard")
		return Choice{Profile: p, Source: "built-in default"}, err
	}
	var choices []Choice
	var owners [][]string // the fleets of each choice
	for _, fn := range fleets {
		f := cfg.Fleet(fn)
		if f == nil {
			return Choice{}, fmt.Errorf("no fleet %q in the configuration", fn)
		}
		c, err := forFleet(cfg, f)
		if err != nil {
			return Choice{}, err
		}
		i := slices.IndexFunc(choices, func(o Choice) bool { return o.Name == c.Name && o.MinScore == c.MinScore })
		switch {
		case i < 0:
			choices, owners = append(choices, c), append(owners, []string{fn})
		case !strings.Contains(choices[i].Source, c.Source):
			choices[i].Source += "; " + c.Source
			owners[i] = append(owners[i], fn)
		default:
			owners[i] = append(owners[i], fn)
		}
	}
	switch len(choices) {
	case 0:
		p, err := FromConfig(cfg, config.ProfileRef{})
		if err != nil {
			return Choice{}, err
		}
		p.MinScore = Gate(cfg, nil, p)
		return Choice{Profile: p, Source: defaultSource(cfg)}, nil
	case 1:
		return choices[0], nil
	}
	var parts []string
	for i, c := range choices {
		parts = append(parts, fmt.Sprintf("%s by profile %s, min score %g (%s)", strings.Join(owners[i], ", "), c.Name, c.MinScore, c.Source))
	}
	return Choice{}, fmt.Errorf("the fleets are judged by different profiles: %s; run them one at a time, or give --profile (and --min-score)", strings.Join(parts, "; "))
}

// forFleet is the profile of a fleet's image, with the image's gate.
func forFleet(cfg *config.Config, f *config.Fleet) (Choice, error) {
	if ib := cfg.Image(f.Image.Name); f.Image.Managed && ib != nil {
		p, err := ForImage(cfg, ib)
		if err != nil {
			return Choice{}, fmt.Errorf("fleet %s: %w", f.Name, err)
		}
		return Choice{Profile: p, Source: "from image " + ib.Name}, nil
	}
	p, err := FromConfig(cfg, config.ProfileRef{})
	if err != nil {
		return Choice{}, fmt.Errorf("fleet %s: %w", f.Name, err)
	}
	p.MinScore = Gate(cfg, nil, p)
	return Choice{Profile: p, Source: defaultSource(cfg) + " (fleet " + f.Name + " runs Glance image " + f.Image.Name + ", which has no image block)"}, nil
}

func defaultSource(cfg *config.Config) string {
	if cfg.Compliance.Profile.Name != "" {
		return "compliance default"
	}
	return "built-in default"
}
