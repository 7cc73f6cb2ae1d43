package images

import "context"

// stepCleanImage removes what must not be baked into an image: host keys (each server makes
// its own), the machine id, the build's key, shell history, package caches, logs of the build.
type stepCleanImage struct {
	noCleanup
}

func (*stepCleanImage) Name() string { return "clean image" }

func (s *stepCleanImage) Run(ctx context.Context, b *build) error {
	script := `set -e
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
for d in /root /home/*; do
  [ -d "$d" ] || continue
  rm -f "$d/.bash_history" "$d/.lesshst" "$d/.viminfo"
  [ -f "$d/.ssh/authorized_keys" ] && : > "$d/.ssh/authorized_keys"
done
rm -rf /root/hardenctl-disabled-sources
if command -v apt-get >/dev/null; then apt-get clean; rm -rf /var/lib/apt/lists/*; fi
if command -v dnf >/dev/null; then dnf clean all; fi
rm -rf /tmp/* /var/tmp/*
sync`
	return run(ctx, b.conn, "clean the image", script)
}
