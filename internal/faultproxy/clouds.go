package faultproxy

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// Cloud is one clouds.yaml entry, as the proxy writes it.
type Cloud struct {
	Auth               CloudAuth `json:"auth"`
	RegionName         string    `json:"region_name,omitempty"`
	IdentityAPIVersion string    `json:"identity_api_version"`
}

// CloudAuth is an entry's auth section.
type CloudAuth struct {
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

// ReadCloud reads entry name of the clouds.yaml at src.
func ReadCloud(src, name string) (Cloud, error) {
	ao, eo, _, err := clouds.Parse(clouds.WithLocations(src), clouds.WithCloudName(name))
	if err != nil {
		return Cloud{}, fmt.Errorf("read cloud %q from %s: %w", name, src, err)
	}
	a := CloudAuth{AuthURL: ao.IdentityEndpoint, Username: ao.Username, UserID: ao.UserID, Password: ao.Password,
		UserDomainName: ao.DomainName, UserDomainID: ao.DomainID}
	if s := ao.Scope; s != nil {
		a.ProjectName, a.ProjectID, a.ProjectDomainName, a.ProjectDomainID = s.ProjectName, s.ProjectID, s.DomainName, s.DomainID
	}
	return Cloud{Auth: a, RegionName: eo.Region, IdentityAPIVersion: "3"}, nil
}

// Proxied returns c with its auth_url pointed at the proxy; an entry of another Keystone
// is an error: nothing may reach a cloud around the proxy.
func (p *Proxy) Proxied(c Cloud) (Cloud, error) {
	u := p.IdentityURL(c.Auth.AuthURL)
	if u == c.Auth.AuthURL {
		return c, fmt.Errorf("auth_url %s is not the proxied Keystone %s", c.Auth.AuthURL, p.identity.origin)
	}
	c.Auth.AuthURL = u
	return c, nil
}

// WriteClouds writes a clouds.yaml (in JSON, which is YAML) with the entries given.
func WriteClouds(dst string, entries map[string]Cloud) error {
	b, err := json.MarshalIndent(map[string]any{"clouds": entries}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

// WriteCloudsYAML writes to dst the entries names of the clouds.yaml at src, each with its
// auth_url pointed at the proxy.
func (p *Proxy) WriteCloudsYAML(src, dst string, names ...string) error {
	out := map[string]Cloud{}
	for _, name := range names {
		c, err := ReadCloud(src, name)
		if err != nil {
			return err
		}
		if out[name], err = p.Proxied(c); err != nil {
			return fmt.Errorf("cloud %q: %w", name, err)
		}
	}
	return WriteClouds(dst, out)
}
