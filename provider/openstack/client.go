package openstack

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/hardenctl/hardenctl/schedule"
)

// Options say which cloud to use. With Cloud empty and OS_CLOUD unset, the OS_* variables
// give the credentials.
type Options struct {
	Cloud  string // clouds.yaml entry (--cloud, the config's cloud block, or OS_CLOUD)
	Region string // overrides the entry's region / OS_REGION_NAME
	// Counter, when set, counts every HTTP request that reaches the cloud (retries included).
	Counter *CountingTransport
	Logger  *slog.Logger
	// Timeout bounds one attempt of an HTTP request, headers and body (default 60 s). The
	// waits between retries are not part of it; ctx bounds the whole.
	Timeout time.Duration
}

// Client holds the authenticated service clients. It is safe for concurrent use.
type Client struct {
	network *gophercloud.ServiceClient
	compute *gophercloud.ServiceClient // nil when the catalog has no compute service
	// computeMax is the newest compute microversion the cloud supports ("" unknown);
	// computeErr, when set, says why the compute service cannot be used (too old).
	computeMax string
	computeErr error
	image      *gophercloud.ServiceClient // nil when the catalog has no image service
	object     *gophercloud.ServiceClient // nil when the catalog has no object store (records.go)
	projectID  string                     // the token's project: every list is scoped to it, even for admins
	who        schedule.Who               // the token's user and project, by name and id
	logger     *slog.Logger
	// lookups caches flavor and network ids by name for the client's life (one command):
	// a fleet of 20 servers looks each up once, not 20 times.
	lookups sync.Map
}

// New authenticates and finds the services in the catalog. Errors never contain secrets.
func New(ctx context.Context, opts Options) (*Client, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ao, eo, tlsCfg, source, err := authOptions(opts)
	if err != nil {
		return nil, err
	}
	ao.AllowReauth = true
	pc, err := openstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("%s: identity endpoint %q: %w", source, ao.IdentityEndpoint, err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		base.TLSClientConfig = tlsCfg
	}
	var rt http.RoundTripper = base
	if opts.Counter != nil {
		opts.Counter.Next = base
		rt = opts.Counter
	}
	rt = &redactTransport{next: rt, secrets: func() []string {
		return []string{ao.Password, ao.ApplicationCredentialSecret, ao.TokenID, pc.Token()}
	}}
	pc.HTTPClient = httpClient(rt, logger, opts.Timeout)
	pc.UserAgent.Prepend("hardenctl")
	if err := openstack.Authenticate(ctx, pc, ao); err != nil {
		return nil, fmt.Errorf("authenticate to %s (%s as user %q): %w", ao.IdentityEndpoint, source, userOf(ao), err)
	}
	network, err := openstack.NewNetworkV2(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("find the network service (region %q) in the catalog: %w", eo.Region, err)
	}
	var computeMax string
	var computeErr error
	compute, err := openstack.NewComputeV2(pc, eo)
	if err == nil {
		computeMax, computeErr = negotiateCompute(ctx, compute)
	} else {
		compute = nil
	}
	image, err := openstack.NewImageV2(pc, eo)
	if err != nil {
		image = nil
	}
	object, err := openstack.NewObjectStorageV1(pc, eo)
	if err != nil {
		object = nil
	}
	var projectID string
	var who schedule.Who
	if res, ok := pc.GetAuthResult().(tokens.CreateResult); ok {
		if p, err := res.ExtractProject(); err == nil && p != nil {
			projectID = p.ID
			who.Project, who.ProjectID = p.Name, p.ID
		}
		if u, err := res.ExtractUser(); err == nil && u != nil {
			who.User, who.UserID = u.Name, u.ID
		}
	}
	logger.Debug("authenticated", "source", source, "auth_url", ao.IdentityEndpoint, "project", projectID, "network", network.Endpoint,
		"compute_max_microversion", computeMax)
	return &Client{network: network, compute: compute, computeMax: computeMax, computeErr: computeErr, image: image, object: object,
		projectID: projectID, who: who, logger: logger}, nil
}

// httpClient sends through the retry transport, which holds the per-attempt timeout: an
// http.Client Timeout would include the retries' waits and cut them (two Retry-After: 30).
func httpClient(rt http.RoundTripper, logger *slog.Logger, attemptTimeout time.Duration) http.Client {
	t := newRetryTransport(rt, logger)
	if attemptTimeout > 0 {
		t.attemptTimeout = attemptTimeout
	}
	return http.Client{Transport: t}
}

func authOptions(opts Options) (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, string, error) {
	cloud := opts.Cloud
	if cloud == "" {
		cloud = os.Getenv("OS_CLOUD")
	}
	if cloud != "" {
		parseOpts := []clouds.ParseOption{clouds.WithCloudName(cloud)}
		if opts.Region != "" {
			parseOpts = append(parseOpts, clouds.WithRegion(opts.Region))
		}
		ao, eo, tlsCfg, err := clouds.Parse(parseOpts...)
		if err != nil {
			return ao, eo, nil, "", fmt.Errorf("read cloud %q from clouds.yaml: %w", cloud, err)
		}
		return ao, eo, tlsCfg, fmt.Sprintf("clouds.yaml entry %q", cloud), nil
	}
	ao, err := envAuthOptions(os.Getenv)
	if err != nil {
		return ao, gophercloud.EndpointOpts{}, nil, "", err
	}
	region := opts.Region
	if region == "" {
		region = os.Getenv("OS_REGION_NAME")
	}
	return ao, gophercloud.EndpointOpts{Region: region}, nil, "OS_* variables", nil
}

// envAuthOptions reads the OS_* variables as an openrc file sets them, with separate user
// and project domains (gophercloud's AuthOptionsFromEnv knows only OS_DOMAIN_*).
func envAuthOptions(getenv func(string) string) (gophercloud.AuthOptions, error) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	ao := gophercloud.AuthOptions{
		IdentityEndpoint:            getenv("OS_AUTH_URL"),
		Username:                    getenv("OS_USERNAME"),
		UserID:                      first("OS_USER_ID", "OS_USERID"),
		Password:                    getenv("OS_PASSWORD"),
		DomainName:                  first("OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME"),
		DomainID:                    first("OS_USER_DOMAIN_ID", "OS_DOMAIN_ID"),
		ApplicationCredentialID:     getenv("OS_APPLICATION_CREDENTIAL_ID"),
		ApplicationCredentialName:   getenv("OS_APPLICATION_CREDENTIAL_NAME"),
		ApplicationCredentialSecret: getenv("OS_APPLICATION_CREDENTIAL_SECRET"),
	}
	var missing []string
	if ao.IdentityEndpoint == "" {
		missing = append(missing, "OS_AUTH_URL")
	}
	appCred := ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != ""
	if appCred {
		if ao.ApplicationCredentialSecret == "" {
			missing = append(missing, "OS_APPLICATION_CREDENTIAL_SECRET")
		}
	} else {
		if ao.Username == "" && ao.UserID == "" {
			missing = append(missing, "OS_USERNAME")
		}
		if ao.Password == "" {
			missing = append(missing, "OS_PASSWORD")
		}
	}
	if len(missing) > 0 {
		return ao, fmt.Errorf("no cloud given: set --cloud, a cloud block in the configuration, OS_CLOUD, or the OS_* variables (missing: %s)", strings.Join(missing, ", "))
	}
	if appCred {
		return ao, nil
	}
	project, projectID := first("OS_PROJECT_NAME", "OS_TENANT_NAME"), first("OS_PROJECT_ID", "OS_TENANT_ID")
	if project != "" || projectID != "" {
		ao.Scope = &gophercloud.AuthScope{ProjectName: project, ProjectID: projectID}
		if project != "" {
			ao.Scope.DomainName = first("OS_PROJECT_DOMAIN_NAME", "OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME")
			ao.Scope.DomainID = first("OS_PROJECT_DOMAIN_ID", "OS_USER_DOMAIN_ID", "OS_DOMAIN_ID")
			if ao.Scope.DomainName != "" && ao.Scope.DomainID != "" {
				ao.Scope.DomainName = ""
			}
			if ao.Scope.DomainName == "" && ao.Scope.DomainID == "" {
				return ao, fmt.Errorf("OS_PROJECT_NAME %q needs its domain: set OS_PROJECT_DOMAIN_NAME or OS_PROJECT_DOMAIN_ID", project)
			}
		}
	}
	if ao.UserID == "" && ao.DomainName != "" && ao.DomainID != "" {
		ao.DomainName = ""
	}
	return ao, nil
}

func userOf(ao gophercloud.AuthOptions) string {
	if ao.Username != "" {
		return ao.Username
	}
	if ao.UserID != "" {
		return ao.UserID
	}
	return "(application credential or token)"
}
