package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"

	"github.com/hardenctl/hardenctl/images"
)

// Compute API microversions. Every request sends computeBaseMicroversion, the newest that
// the calls below rely on: 2.26 lists servers by tag and shows their tags, 2.51 shows an
// instance action's events to non-admins (RebuildServer waits on them), 2.52 sets tags at
// create. Only the rebuild of a volume-backed server sends computeVolumeRebuildMicroversion:
// before 2.93 (Zed) Nova refuses to rebuild one onto another image.
const (
	computeBaseMicroversion          = "2.52"
	computeVolumeRebuildMicroversion = "2.93"
)

var _ images.Cloud = (*Client)(nil)

func (c *Client) needCompute() error {
	if c.compute == nil {
		return errors.New("the cloud's catalog has no compute (Nova) service")
	}
	return c.computeErr
}

// negotiateCompute reads the compute endpoint's version document (its microversion range)
// and sets the base microversion on sc. A cloud whose range does not reach the base is an
// error (kept for the compute calls: a zones-only command still works). A cloud that
// publishes no range gets the base and max "" (unknown).
func negotiateCompute(ctx context.Context, sc *gophercloud.ServiceClient) (max string, err error) {
	sc.Microversion = computeBaseMicroversion
	mv, err := utils.GetSupportedMicroversions(ctx, sc)
	if err != nil {
		// An endpoint with the project id after the version (.../v2.1/PROJECT) may not
		// serve the document: ask the version's own URL.
		if i := strings.Index(sc.Endpoint, "/v2.1/"); i >= 0 && len(sc.Endpoint) > i+len("/v2.1/") {
			vc := *sc
			vc.Endpoint = sc.Endpoint[:i+len("/v2.1/")]
			mv, err = utils.GetSupportedMicroversions(ctx, &vc)
		}
		if err != nil {
			return "", nil
		}
	}
	max = fmt.Sprintf("%d.%d", mv.MaxMajor, mv.MaxMinor)
	if ok, _ := mv.IsSupported(computeBaseMicroversion); !ok {
		sc.Microversion = ""
		return max, fmt.Errorf("the cloud's compute API supports microversions %d.%d to %s; hardenctl needs %s (server tags at create)", mv.MinMajor, mv.MinMinor, max, computeBaseMicroversion)
	}
	return max, nil
}

// MaxComputeMicroversion is the newest compute API microversion the cloud supports, as its
// version document says ("" when it says none or there is no compute service).
func (c *Client) MaxComputeMicroversion() string { return c.computeMax }

// computeSupports reports whether the cloud's compute API has microversion v (true when
// its range is unknown: then Nova's answer decides).
func (c *Client) computeSupports(v string) bool {
	if c.computeMax == "" {
		return true
	}
	return microversionAtLeast(c.computeMax, v)
}

// microversionAtLeast compares two "X.Y" microversions.
func microversionAtLeast(have, want string) bool {
	hMaj, hMin, err1 := utils.ParseMicroversion(have)
	wMaj, wMin, err2 := utils.ParseMicroversion(want)
	if err1 != nil || err2 != nil {
		return false
	}
	return hMaj > wMaj || (hMaj == wMaj && hMin >= wMin)
}

// CreateKeyPair imports a public key under name.
func (c *Client) CreateKeyPair(ctx context.Context, name, publicKey string) error {
	if err := c.needCompute(); err != nil {
		return err
	}
	if _, err := keypairs.Create(ctx, c.compute, keypairs.CreateOpts{Name: name, PublicKey: publicKey}).Extract(); err != nil {
		return fmt.Errorf("import key pair %s: %w", name, err)
	}
	return nil
}

// DeleteKeyPair deletes a key pair; one already gone is not an error.
func (c *Client) DeleteKeyPair(ctx context.Context, name string) error {
	err := keypairs.Delete(ctx, c.compute, name, nil).ExtractErr()
	if err == nil || gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	return fmt.Errorf("delete key pair %s: %w", name, err)
}

// FindSecurityGroup returns the id of the one group in the token's project named name that
// carries all of tags, checked on the groups themselves.
func (c *Client) FindSecurityGroup(ctx context.Context, name string, tags []string) (string, error) {
	if c.projectID == "" {
		return "", errNoProject
	}
	pages, err := groups.List(c.network, groups.ListOpts{Name: name, Tags: strings.Join(tags, ","), ProjectID: c.projectID}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list security groups named %s: %w", name, err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return "", fmt.Errorf("read security group list: %w", err)
	}
	var ids []string
	for _, g := range all {
		if g.Name == name && g.ProjectID == c.projectID && hasAll(g.Tags, tags) {
			ids = append(ids, g.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no security group %s tagged %s in project %s", name, strings.Join(tags, ","), c.projectID)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d security groups %s tagged %s (%s): remove the duplicates with hardenctl apply", len(ids), name, strings.Join(tags, ","), strings.Join(ids, ", "))
}

// CreateBuildGroup makes a security group that lets SSH in only from the members of the
// bastion's group (never from an address range: an empty remote would be "anywhere") and
// lets the builder reach out (to the mirrors); tagged so that a crashed build's group can be
// found.
func (c *Client) CreateBuildGroup(ctx context.Context, name, bastionGroupID string, tags []string) (string, error) {
	if bastionGroupID == "" {
		return "", fmt.Errorf("create build group %s: no bastion group to take SSH from", name)
	}
	sg, err := groups.Create(ctx, c.network, groups.CreateOpts{Name: name, Description: "hardenctl image build: SSH from the bastion only"}).Extract()
	if err != nil {
		return "", fmt.Errorf("create security group %s: %w", name, err)
	}
	if _, err := attributestags.ReplaceAll(ctx, c.network, "security-groups", sg.ID, attributestags.ReplaceAllOpts{Tags: tags}).Extract(); err != nil {
		groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID)
		return "", fmt.Errorf("tag security group %s: %w", name, err)
	}
	ssh := rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolTCP,
		PortRangeMin: 22, PortRangeMax: 22, RemoteGroupID: bastionGroupID, Description: "hardenctl: ssh from the bastion"}
	if _, err := rules.Create(ctx, c.network, ssh).Extract(); err != nil {
		groups.Delete(context.WithoutCancel(ctx), c.network, sg.ID)
		return "", fmt.Errorf("allow SSH into build group %s: %w", name, err)
	}
	return sg.ID, nil
}

// CreateServer boots a server; flavor and network may be names or ids.
func (c *Client) CreateServer(ctx context.Context, spec images.ServerSpec) (string, error) {
	if err := c.needCompute(); err != nil {
		return "", err
	}
	flavorID, err := c.flavorID(ctx, spec.Flavor)
	if err != nil {
		return "", err
	}
	netID, err := c.networkID(ctx, spec.Network)
	if err != nil {
		return "", err
	}
	opts := servers.CreateOpts{Name: spec.Name, ImageRef: spec.ImageID, FlavorRef: flavorID,
		Networks: []servers.Network{{UUID: netID}}, SecurityGroups: spec.SecurityGroups,
		Metadata: spec.Metadata, Tags: spec.Tags}
	var create servers.CreateOptsBuilder = opts
	if spec.KeyName != "" {
		create = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: spec.KeyName}
	}
	s, err := servers.Create(ctx, c.compute, create, nil).Extract()
	if err != nil {
		return "", fmt.Errorf("boot server %s: %w", spec.Name, err)
	}
	return s.ID, nil
}

// WaitServer polls (0.5 s, then up to 3 s apart) until the server has status and no task
// state, and fails at once when it goes to ERROR, with Nova's fault message.
func (c *Client) WaitServer(ctx context.Context, id, status string) (images.Server, error) {
	delay := 500 * time.Millisecond
	for {
		s, err := servers.Get(ctx, c.compute, id).Extract()
		if err != nil {
			return images.Server{}, fmt.Errorf("wait for server %s to be %s: %w", id, status, err)
		}
		if s.Status == "ERROR" {
			return images.Server{}, fmt.Errorf("server %s (%s) went to ERROR: %s", s.Name, id, s.Fault.Message)
		}
		if s.Status == status && s.TaskState == "" {
			return toServer(s), nil
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return images.Server{}, fmt.Errorf("wait for server %s to be %s (it is %s): %w", id, status, s.Status, err)
		}
		delay = min(delay*3/2, 3*time.Second)
	}
}

func toServer(s *servers.Server) images.Server {
	out := images.Server{ID: s.ID, Name: s.Name, Status: s.Status}
	if id, ok := s.Image["id"].(string); ok {
		out.ImageID = id
	}
	nets := make([]string, 0, len(s.Addresses))
	for n := range s.Addresses {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		addrs, _ := s.Addresses[n].([]any)
		for _, a := range addrs {
			m, _ := a.(map[string]any)
			if v, _ := m["version"].(float64); v == 4 && out.Address == "" {
				out.Address, _ = m["addr"].(string)
			}
		}
	}
	return out
}

// ConsoleOutput returns the server's console log.
func (c *Client) ConsoleOutput(ctx context.Context, id string) (string, error) {
	out, err := servers.ShowConsoleOutput(ctx, c.compute, id, servers.ShowConsoleOutputOpts{}).Extract()
	if err != nil {
		return "", fmt.Errorf("read console of server %s: %w", id, err)
	}
	return out, nil
}

// StopServer powers a server off and waits until it is SHUTOFF.
func (c *Client) StopServer(ctx context.Context, id string) error {
	if err := servers.Stop(ctx, c.compute, id).ExtractErr(); err != nil {
		return fmt.Errorf("stop server %s: %w", id, err)
	}
	_, err := c.WaitServer(ctx, id, "SHUTOFF")
	return err
}

// DeleteServer deletes a server and waits until Nova no longer knows it.
func (c *Client) DeleteServer(ctx context.Context, id string) error {
	err := servers.Delete(ctx, c.compute, id).ExtractErr()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete server %s: %w", id, err)
	}
	delay := 500 * time.Millisecond
	for {
		_, err := servers.Get(ctx, c.compute, id).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return fmt.Errorf("wait for server %s to be deleted: %w", id, err)
		}
		delay = min(delay*3/2, 3*time.Second)
	}
}

// Snapshot creates an image of a server (Nova's createImage).
func (c *Client) Snapshot(ctx context.Context, serverID, name string, metadata map[string]string) (string, error) {
	id, err := servers.CreateImage(ctx, c.compute, serverID, servers.CreateImageOpts{Name: name, Metadata: metadata}).ExtractImageID()
	if err != nil {
		return "", fmt.Errorf("snapshot server %s as %s: %w", serverID, name, err)
	}
	return id, nil
}

func (c *Client) flavorID(ctx context.Context, nameOrID string) (string, error) {
	if id, ok := c.lookups.Load("flavor:" + nameOrID); ok {
		return id.(string), nil
	}
	pages, err := flavors.ListDetail(c.compute, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list flavors: %w", err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return "", fmt.Errorf("read flavor list: %w", err)
	}
	var names []string
	for _, f := range all {
		if f.ID == nameOrID || f.Name == nameOrID {
			c.lookups.Store("flavor:"+nameOrID, f.ID)
			return f.ID, nil
		}
		names = append(names, f.Name)
	}
	return "", fmt.Errorf("no flavor %q (there are: %v)", nameOrID, names)
}

func (c *Client) networkID(ctx context.Context, nameOrID string) (string, error) {
	if id, ok := c.lookups.Load("network:" + nameOrID); ok {
		return id.(string), nil
	}
	pages, err := networks.List(c.network, networks.ListOpts{}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	all, err := networks.ExtractNetworks(pages)
	if err != nil {
		return "", fmt.Errorf("read network list: %w", err)
	}
	var names []string
	for _, n := range all {
		if n.ID == nameOrID || n.Name == nameOrID {
			c.lookups.Store("network:"+nameOrID, n.ID)
			return n.ID, nil
		}
		names = append(names, n.Name)
	}
	return "", fmt.Errorf("no network %q (there are: %v)", nameOrID, names)
}

// FindBuildLeftovers lists, in the token's project, the servers and security groups that carry
// all of tags (checked on each) and the key pairs whose names start with keyPrefix.
func (c *Client) FindBuildLeftovers(ctx context.Context, tags []string, keyPrefix string) (images.Leftovers, error) {
	var left images.Leftovers
	srvs, err := c.ownedServers(ctx, tags, "builders")
	if err != nil {
		return left, err
	}
	for _, s := range srvs {
		left.Servers = append(left.Servers, s.ID)
	}
	gp, err := groups.List(c.network, groups.ListOpts{Tags: strings.Join(tags, ","), ProjectID: c.projectID}).AllPages(ctx)
	if err != nil {
		return left, fmt.Errorf("list build groups tagged %s: %w", strings.Join(tags, ","), err)
	}
	gs, err := groups.ExtractGroups(gp)
	if err != nil {
		return left, fmt.Errorf("read security group list: %w", err)
	}
	for _, g := range gs {
		if g.ProjectID == c.projectID && hasAll(g.Tags, tags) {
			left.Groups = append(left.Groups, g.ID)
		}
	}
	kp, err := keypairs.List(c.compute, nil).AllPages(ctx)
	if err != nil {
		return left, fmt.Errorf("list key pairs: %w", err)
	}
	kps, err := keypairs.ExtractKeyPairs(kp)
	if err != nil {
		return left, fmt.Errorf("read key pair list: %w", err)
	}
	for _, k := range kps {
		if strings.HasPrefix(k.Name, keyPrefix) {
			left.KeyPairs = append(left.KeyPairs, k.Name)
		}
	}
	return left, nil
}
