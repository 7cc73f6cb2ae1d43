package faultproxy

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// WriteCloudsYAML writes to dst a clouds.yaml (in JSON, which is YAML) with the entries
// names of the clouds.yaml at src, each with its auth_url pointed at the proxy. An entry
// whose Keystone is not the proxied one is an error: nothing may reach a cloud around the
// proxy.
func (p *Proxy) WriteCloudsYAML(src, dst string, names ...string) error {
	type auth struct {
		AuthURL           string `json:"auth_url"`
		Username          string `json:"username,omitempty"`
		UserID            string `json:"user_id,omitempty"`
		Password          string `json:"password,omitempty"`
		UserDomainName    string `json:"user_domain_name,omitempty"`
		UserDomainID      string `json:"user_domain_id,omitempty"`
		ProjectName       string `json:"project_name,omitempty"`
		ProjectID         string `json:"project_id,omitempty"`
		ProjectDomainName string `json:"project_domain_name,omitempty"`
		ProjectDomainID   string `json:"project_domain_id,omitempty"`
	}
	type cloud struct {
		Auth               auth   `json:"auth"`
		RegionName         string `json:"region_name,omitempty"`
		IdentityAPIVersion string `json:"identity_api_version"`
	}
	out := map[string]cloud{}
	for _, name := range names {
		ao, eo, _, err := clouds.Parse(clouds.WithLocations(src), clouds.WithCloudName(name))
		if err != nil {
			return fmt.Errorf("read cloud %q from %s: %w", name, src, err)
		}
		proxied := p.IdentityURL(ao.IdentityEndpoint)
		if proxied == ao.IdentityEndpoint {
			return fmt.Errorf("cloud %q authenticates at %s, not at the proxied Keystone %s", name, ao.IdentityEndpoint, p.identity.origin)
		}
		a := auth{AuthURL: proxied, Username: ao.Username, UserID: ao.UserID, Password: ao.Password,
			UserDomainName: ao.DomainName, UserDomainID: ao.DomainID}
		if s := ao.Scope; s != nil {
			a.ProjectName, a.ProjectID, a.ProjectDomainName, a.ProjectDomainID = s.ProjectName, s.ProjectID, s.DomainName, s.DomainID
		}
		out[name] = cloud{Auth: a, RegionName: eo.Region, IdentityAPIVersion: "3"}
	}
	b, err := json.MarshalIndent(map[string]any{"clouds": out}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}
