package images

import "slices"

// Ownership tags and properties of published images.
const (
	TagManagedBy = "managed-by:hardenctl"
	tagImage     = "hardenctl-image:"
	tagConfig    = "hardenctl-config:"
	tagBuild     = "hardenctl-build:"
	tagBuilder   = "hardenctl-builder:" // and the configuration's name: what its builds made
	propPrefix   = "hardenctl_"
)

// buildPrefix starts the name of everything a build of configuration cfg makes: builder,
// key pair, security group, private work directory. Configuration names have no "_", so the
// prefix of one is never that of another.
func buildPrefix(cfg string) string { return "hardenctl-build_" + cfg + "_" }

// propBuildConfig is the property that names the configuration of a build's snapshot until
// it is published with its tags.
const propBuildConfig = propPrefix + "build_config"

// tags mark the builder and its group: hardenctl's, this build's, this configuration's builds'.
func (b *build) tags() []string {
	return []string{TagManagedBy, tagBuild + b.id, tagBuilder + b.spec.Config}
}

// ownerTags mark what configuration cfg owns.
func ownerTags(cfg string) []string { return []string{TagManagedBy, tagConfig + cfg} }

// OwnedQuery selects the images of this name that configuration cfg built, in the token's
// project: its tags AND the project make ownership, never the name alone.
func OwnedQuery(cfg, name string) ImageQuery {
	return ImageQuery{Tags: append(ownerTags(cfg), tagImage+name), OwnProject: true}
}

// ConfigQuery selects every image configuration cfg built, in the token's project.
func ConfigQuery(cfg string) ImageQuery {
	return ImageQuery{Tags: ownerTags(cfg), OwnProject: true}
}

// Owns says whether im carries every tag of q (checked on the image itself, whatever the
// cloud's filter did).
func (q ImageQuery) Owns(im Image) bool {
	for _, t := range q.Tags {
		if !slices.Contains(im.Tags, t) {
			return false
		}
	}
	return true
}
