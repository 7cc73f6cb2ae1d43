package images

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/internal/shell"
)

// stepMirrors points the builder at the internal mirrors only: public repositories are
// removed, and container registries are redirected (and public ones blocked when asked).
type stepMirrors struct {
	noCleanup
}

func (*stepMirrors) Name() string { return "configure mirrors" }

func (s *stepMirrors) Run(ctx context.Context, b *build) error {
	var sh strings.Builder
	sh.WriteString("set -e\n")
	if err := uploadMirrorKeys(ctx, b.conn, b.spec.Mirrors, &sh); err != nil {
		return err
	}
	var apt, yum []Mirror
	for _, m := range b.spec.Mirrors {
		if m.Kind == "yum" {
			yum = append(yum, m)
		} else {
			apt = append(apt, m)
		}
	}
	if len(apt) > 0 {
		sh.WriteString("if [ -d /etc/apt ]; then\n  mkdir -p /etc/apt/sources.list.d /root/hardenctl-disabled-sources\n")
		sh.WriteString("  for f in /etc/apt/sources.list.d/*; do [ -e \"$f\" ] && mv \"$f\" /root/hardenctl-disabled-sources/; done\n")
		sh.WriteString("  : > /etc/apt/sources.list\n")
		fmt.Fprintf(&sh, "  cat > /etc/apt/sources.list.d/hardenctl-mirrors.list <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\nfi\n", aptSources(apt))
	}
	if len(yum) > 0 {
		sh.WriteString("if [ -d /etc/yum.repos.d ]; then\n  for f in /etc/yum.repos.d/*.repo; do [ -e \"$f\" ] && sed -i 's/^enabled=.*/enabled=0/' \"$f\"; done\n")
		fmt.Fprintf(&sh, "  cat > /etc/yum.repos.d/hardenctl-mirrors.repo <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\nfi\n", yumRepos(yum))
	}
	if len(b.spec.Registries) > 0 {
		conf, daemon := registriesConf(b.spec.Registries)
		fmt.Fprintf(&sh, "mkdir -p /etc/containers /etc/docker\ncat > /etc/containers/registries.conf <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\n", conf)
		fmt.Fprintf(&sh, "cat > /etc/docker/daemon.json <<'HARDENCTL_EOF'\n%sHARDENCTL_EOF\n", daemon)
	}
	return run(ctx, b.conn, "configure mirrors on the builder", sh.String())
}

func aptSources(ms []Mirror) string {
	var b strings.Builder
	for _, m := range ms {
		suites, comps := m.Suites, m.Components
		if len(suites) == 0 {
			suites = []string{"bookworm"}
		}
		if len(comps) == 0 {
			comps = []string{"main"}
		}
		opt := ""
		switch {
		case m.Trusted:
			opt = "[trusted=yes] "
		case len(m.GPGKey) > 0:
			opt = "[signed-by=" + mirrorKeyPath(m) + "] "
		}
		for _, s := range suites {
			fmt.Fprintf(&b, "deb %s%s %s %s\n", opt, m.URL, s, strings.Join(comps, " "))
		}
	}
	return b.String()
}

func yumRepos(ms []Mirror) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "[hardenctl-%s]\nname=%s (hardenctl mirror)\nbaseurl=%s\nenabled=1\n", m.Name, m.Name, m.URL)
		switch {
		case m.Trusted:
			b.WriteString("gpgcheck=0\n")
		case len(m.GPGKey) > 0:
			fmt.Fprintf(&b, "gpgcheck=1\ngpgkey=file://%s\n", mirrorKeyPath(m))
		default:
			b.WriteString("gpgcheck=1\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// mirrorKeyPath is where a mirror's signing key is installed on the builder.
func mirrorKeyPath(m Mirror) string {
	if m.Kind == "yum" {
		return "/etc/pki/rpm-gpg/RPM-GPG-KEY-hardenctl-" + m.Name
	}
	return "/etc/apt/keyrings/hardenctl-" + m.Name + ".asc"
}

// mirrorKeyUpload is where a key is uploaded first: SFTP runs as the login user, so the
// script installs it (as root) where mirrorKeyPath says.
const mirrorKeyUpload = "/tmp/hardenctl-mirror-keys/"

// uploadMirrorKeys uploads the signing keys of the mirrors that have one (and are not
// trusted) and adds their installation to the script sh.
func uploadMirrorKeys(ctx context.Context, c hardening.Conn, ms []Mirror, sh *strings.Builder) error {
	for _, m := range ms {
		if m.Trusted || len(m.GPGKey) == 0 {
			continue
		}
		up := mirrorKeyUpload + m.Name + ".asc"
		if err := c.Upload(ctx, up, bytes.NewReader(m.GPGKey), 0o644); err != nil {
			return fmt.Errorf("upload the signing key of mirror %s: %w", m.Name, err)
		}
		fmt.Fprintf(sh, "install -D -m 0644 %s %s\n", shell.Quote(up), shell.Quote(mirrorKeyPath(m)))
	}
	return nil
}

// registriesConf renders containers-registries.conf(5) and Docker's daemon.json.
func registriesConf(rs []Registry) (string, string) {
	var conf strings.Builder
	block := false
	var mirrors []string
	for _, r := range rs {
		mirrors = append(mirrors, strconv.Quote("https://"+r.URL))
		block = block || r.BlockPublic
	}
	conf.WriteString("unqualified-search-registries = [" + strconv.Quote(rs[0].URL) + "]\n")
	for _, pub := range []string{"docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "gcr.io"} {
		fmt.Fprintf(&conf, "\n[[registry]]\nprefix = %q\nlocation = %q\nblocked = %t\n", pub, pub, block)
		for _, r := range rs {
			fmt.Fprintf(&conf, "[[registry.mirror]]\nlocation = %q\n", r.URL+"/"+pub)
		}
	}
	daemon := fmt.Sprintf("{\n  \"registry-mirrors\": [%s]\n}\n", strings.Join(mirrors, ", "))
	return conf.String(), daemon
}
