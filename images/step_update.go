package images

import "context"

// stepUpdatePackages upgrades the builder from the mirrors.
type stepUpdatePackages struct {
	noCleanup
}

func (*stepUpdatePackages) Name() string { return "update packages" }

func (s *stepUpdatePackages) Run(ctx context.Context, b *build) error {
	script := `set -e
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null; then
  apt-get -q update
  apt-get -q -y -o Dpkg::Options::=--force-confold upgrade
elif command -v dnf >/dev/null; then dnf -y upgrade
elif command -v yum >/dev/null; then yum -y update
fi`
	return run(ctx, b.conn, "update packages from the mirrors", script)
}
