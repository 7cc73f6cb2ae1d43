package plan

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hardenctl/hardenctl/config"
)

// Server ownership tags: the configuration's tags, plus the fleet's.
const tagFleetPrefix = "hardenctl-fleet:"

// FleetTags returns the tags of a server of fleet in configuration config.
func FleetTags(config, fleet string) []string {
	return append(OwnerTags(config), tagFleetPrefix+fleet)
}

// KindServer is the resource kind of fleet servers.
const KindServer = "server"

// Rebuild is the action that puts a server onto a new image in place: Nova keeps its id,
// ports and addresses and wipes its root disk.
const Rebuild Action = "rebuild"

// ServerSpec is one server a fleet wants.
type ServerSpec struct {
	Name     string `json:"name"`
	Fleet    string `json:"fleet"`
	ImageID  string `json:"image_id"`
	Image    string `json:"image"` // the image's name, for people
	Flavor   string `json:"flavor"`
	Network  string `json:"network,omitempty"`
	Group    string `json:"security_group"` // the zone's group (Neutron name)
	KeyPair  string `json:"key_pair,omitempty"`
	Rebuild  bool   `json:"rebuild_allowed,omitempty"`
	Strategy string `json:"strategy,omitempty"`
}

// ObservedServer is a fleet server as Nova has it.
type ObservedServer struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	ImageID string   `json:"image_id"`          // empty for a volume-backed server
	Address string   `json:"address,omitempty"` // first fixed IPv4 address
	Tags    []string `json:"tags"`
}

// Fleet returns the fleet a server belongs to (from its tag), or "".
func (s ObservedServer) Fleet() string {
	for _, t := range s.Tags {
		if strings.HasPrefix(t, tagFleetPrefix) {
			return strings.TrimPrefix(t, tagFleetPrefix)
		}
	}
	return ""
}

// FleetObserver reads what fleets need: the owned servers (one list call, by tag) and the
// ids of the images fleets name.
type FleetObserver interface {
	ObserveServers(ctx context.Context, ownerTags []string) ([]ObservedServer, error)
	// ResolveImage returns the id of the newest active image: a managed image (built by
	// configuration cfg in this project, found by its tags; "" when none was built yet) or
	// else a Glance image of that name (an error when there is none).
	ResolveImage(ctx context.Context, cfg, name string, managed bool) (string, error)
	// MaxComputeMicroversion is the newest compute API microversion the cloud supports
	// ("X.Y"; "" when it does not say).
	MaxComputeMicroversion() string
}

// VolumeRebuildMicroversion is the compute API microversion that rebuilds a volume-backed
// server onto another image (Nova Zed).
const VolumeRebuildMicroversion = "2.93"

// ServerName is the name of the i-th (1-based) server of a fleet.
func ServerName(cfg *config.Config, fleet string, i int) string {
	return fmt.Sprintf("%s-%s-%02d", cfg.Name, fleet, i)
}

// serverIndex reads the index back from a server name, or 0.
func serverIndex(cfgName, fleet, name string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(name, cfgName+"-"+fleet+"-"))
	if err != nil || !strings.HasPrefix(name, cfgName+"-"+fleet+"-") {
		return 0
	}
	return n
}

// diffFleets plans server creates, deletes and rebuilds. Servers are numbered: a count
// raised fills the lowest free numbers, a count lowered deletes the highest.
func diffFleets(ctx context.Context, cfg *config.Config, obs FleetObserver, destroy bool, p *Plan) ([]ObservedServer, error) {
	servers, err := obs.ObserveServers(ctx, OwnerTags(cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("observe servers of %s: %w", cfg.Name, err)
	}
	byFleet := map[string][]ObservedServer{}
	for _, s := range servers {
		byFleet[s.Fleet()] = append(byFleet[s.Fleet()], s)
	}
	wanted := map[string]bool{}
	if !destroy {
		for _, f := range cfg.Fleets {
			wanted[f.Name] = true
			imageID, err := obs.ResolveImage(ctx, cfg.Name, f.Image.Name, f.Image.Managed)
			if err != nil {
				return nil, fmt.Errorf("fleet %s: %w", f.Name, err)
			}
			if imageID == "" {
				p.Warnings = append(p.Warnings, fmt.Sprintf("fleet %s is not planned: image %s has not been built yet (hardenctl image build %s)", f.Name, f.Image.Name, f.Image.Name))
				continue
			}
			have := byFleet[f.Name]
			sort.Slice(have, func(i, j int) bool {
				return serverIndex(cfg.Name, f.Name, have[i].Name) < serverIndex(cfg.Name, f.Name, have[j].Name)
			})
			spec := ServerSpec{Fleet: f.Name, ImageID: imageID, Image: f.Image.Name, Flavor: f.Flavor, Network: f.Network,
				Group: GroupName(cfg, f.Zone), KeyPair: f.KeyPair, Rebuild: f.AllowRebuild, Strategy: f.Upgrade.Strategy}
			used := map[int]bool{}
			keep := have
			if len(have) > f.Count {
				keep = have[:f.Count]
				for _, s := range have[f.Count:] {
					p.Changes = append(p.Changes, Change{Action: Delete, Reason: ReasonRemoved, Kind: KindServer,
						Address: "fleet." + f.Name, ServerName: s.Name, ID: s.ID,
						Detail: fmt.Sprintf("count lowered to %d", f.Count)})
				}
			}
			for _, s := range keep {
				used[serverIndex(cfg.Name, f.Name, s.Name)] = true
				if s.ImageID != imageID {
					sp := spec
					sp.Name = s.Name
					detail := fmt.Sprintf("image %s -> %s (%s): the root disk is wiped; id, ports and addresses are kept", short(s.ImageID), short(imageID), f.Image.Name)
					if s.ImageID == "" {
						detail += "; the server boots from a volume, so Nova API microversion " + VolumeRebuildMicroversion + " is needed"
						if max := obs.MaxComputeMicroversion(); max != "" && !microversionAtLeast(max, VolumeRebuildMicroversion) {
							detail += ", and this cloud's compute API stops at " + max + ": the rebuild will be refused"
							p.Warnings = append(p.Warnings, fmt.Sprintf("server %s boots from a volume: rebuilding it onto image %s needs compute API microversion %s, and the cloud supports up to %s; apply will refuse it",
								s.Name, f.Image.Name, VolumeRebuildMicroversion, max))
						}
					}
					if !f.AllowRebuild {
						detail += "; apply does this only with -allow-rebuild (or allow_rebuild = true)"
					}
					p.Changes = append(p.Changes, Change{Action: Rebuild, Reason: ReasonDrift, Kind: KindServer,
						Address: "fleet." + f.Name, ServerName: s.Name, ID: s.ID, Server: &sp, Detail: detail})
				}
			}
			for i, missing := 1, f.Count-len(keep); missing > 0; i++ {
				if used[i] {
					continue
				}
				sp := spec
				sp.Name = ServerName(cfg, f.Name, i)
				p.Changes = append(p.Changes, Change{Action: Create, Reason: ReasonNew, Kind: KindServer,
					Address: "fleet." + f.Name, ServerName: sp.Name, Server: &sp})
				missing--
			}
		}
	}
	names := make([]string, 0, len(byFleet))
	for n := range byFleet {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if wanted[n] {
			continue
		}
		for _, s := range byFleet[n] {
			reason := ReasonRemoved
			if destroy {
				reason = ReasonDestroy
			}
			p.Changes = append(p.Changes, Change{Action: Delete, Reason: reason, Kind: KindServer,
				Address: "fleet." + n, ServerName: s.Name, ID: s.ID, Detail: "fleet " + n + " is not in the configuration"})
		}
	}
	return servers, nil
}

func short(id string) string {
	if id == "" {
		return "(volume)"
	}
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// microversionAtLeast compares two "X.Y" microversions; a malformed one is never at least.
func microversionAtLeast(have, want string) bool {
	var hMaj, hMin, wMaj, wMin int
	if _, err := fmt.Sscanf(have, "%d.%d", &hMaj, &hMin); err != nil {
		return false
	}
	if _, err := fmt.Sscanf(want, "%d.%d", &wMaj, &wMin); err != nil {
		return false
	}
	return hMaj > wMaj || (hMaj == wMaj && hMin >= wMin)
}
