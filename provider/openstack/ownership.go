package openstack

import (
	"errors"
	"slices"
)

// errNoProject refuses to look for owned resources with a token scoped to no project:
// ownership is the tags AND the project, and without a project the lists span them all.
var errNoProject = errors.New("the credentials are scoped to no project: hardenctl owns resources per project; scope them to one (project_name in clouds.yaml, or OS_PROJECT_NAME)")

// hasAll says whether have holds every one of want.
func hasAll(have, want []string) bool {
	for _, t := range want {
		if !slices.Contains(have, t) {
			return false
		}
	}
	return true
}

// ProjectID is the token's project: where everything hardenctl owns lives.
func (c *Client) ProjectID() string { return c.projectID }
