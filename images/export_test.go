package images

import (
	"context"

	"github.com/hardenctl/hardenctl/hardening"
)

// What the external tests (package images_test, which uses imagestest) reach inside.
var (
	BuildPrefix    = buildPrefix
	AptSources     = aptSources
	YumRepos       = yumRepos
	RegistriesConf = registriesConf
)

const (
	PropBuildConfig = propBuildConfig
	TagConfig       = tagConfig
	TagImage        = tagImage
)

// ConfigureMirrors runs the mirrors step on conn.
func ConfigureMirrors(ctx context.Context, conn hardening.Conn, spec Spec) error {
	return (&stepMirrors{}).Run(ctx, &build{conn: conn, spec: spec})
}

// Gate runs the gate step on a scan.
func Gate(spec Spec, scan *hardening.HostResult) error {
	return (&stepGate{}).Run(context.Background(), &build{spec: spec, scan: scan})
}

// Retire runs the retire step and returns what it retired.
func Retire(ctx context.Context, p *Pipeline, spec Spec) ([]string, error) {
	b := &build{spec: spec}
	err := (&stepRetire{p: p}).Run(ctx, b)
	return b.retired, err
}
