package config

import (
	"errors"
	"net/url"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

var mirrorSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "kind", Required: true},
		{Name: "url", Required: true},
		{Name: "suites"},
		{Name: "components"},
		{Name: "trusted"},
		{Name: "gpg_key"},
	},
}

func (d *decoder) decodeMirror(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(mirrorSchema)
	m := &Mirror{Name: b.Labels[0], DeclRange: b.DefRange}
	d.cfg.Mirrors = append(d.cfg.Mirrors, m)
	if attr, ok := content.Attributes["kind"]; ok {
		k, _, kDiags := d.evalEnum(attr.Expr, "kind", MirrorAPT, MirrorYUM)
		diags = append(diags, kDiags...)
		m.Kind = k
	}
	if attr, ok := content.Attributes["url"]; ok {
		u, uDiags := d.evalURL(attr.Expr)
		diags = append(diags, uDiags...)
		m.URL = u
	}
	for _, name := range []string{"suites", "components"} {
		attr, ok := content.Attributes[name]
		if !ok {
			continue
		}
		if m.Kind == MirrorYUM {
			diags = append(diags, errorAt(attr.NameRange, "Attribute of apt mirrors",
				"%s belongs to apt mirrors; a yum mirror's url names the repository itself. Remove %s, or set kind = \"apt\".", name, name))
			continue
		}
		list, lDiags := d.evalStrings(attr.Expr, name)
		diags = append(diags, lDiags...)
		if !lDiags.HasErrors() && len(list) == 0 {
			diags = append(diags, errorAt(attr.Expr.Range(), "Empty "+name, "Leave %s out, or name at least one.", name))
		}
		if name == "suites" {
			m.Suites = list
		} else {
			m.Components = list
		}
	}
	if m.Kind == MirrorAPT && m.Components == nil {
		m.Components = []string{"main"}
	}
	diags = d.boolAttr(content, "trusted", &m.Trusted, diags)
	if attr, ok := content.Attributes["gpg_key"]; ok {
		p, pDiags := d.evalPath(attr.Expr, d.dir, "gpg_key file", true)
		diags = append(diags, pDiags...)
		m.GPGKey = p
	}
	return diags
}

// evalURL evaluates expr as the URL of a package repository: http, https or file, with a
// host for http and https.
func (d *decoder) evalURL(expr hcl.Expression) (string, hcl.Diagnostics) {
	s, set, diags := d.evalSetString(expr)
	if !set {
		return "", diags
	}
	u, err := url.Parse(s)
	var why string
	switch {
	case err != nil:
		why = "it cannot be read: " + err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			why = "it cannot be read: " + ue.Err.Error()
		}
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file":
		why = "its scheme is not http, https or file"
		if u.Scheme == "" {
			why = "it has no scheme"
		}
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		why = "it has no host"
	case u.Scheme == "file" && u.Path == "":
		why = "it has no path"
	}
	if why != "" {
		return "", append(diags, errorAt(expr.Range(), "Invalid URL",
			"The url %q is not usable: %s. Write the repository's URL, like \"http://10.252.0.1:8080/debian\", \"https://mirror.internal/rhel9/baseos\" or \"file:///srv/mirror\".", s, why))
	}
	return s, diags
}

var registrySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "url", Required: true},
		{Name: "block_public"},
	},
}

func (d *decoder) decodeRegistry(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(registrySchema)
	r := &Registry{Name: b.Labels[0], DeclRange: b.DefRange}
	d.cfg.Registries = append(d.cfg.Registries, r)
	if attr, ok := content.Attributes["url"]; ok {
		s, set, sDiags := d.evalSetString(attr.Expr)
		diags = append(diags, sDiags...)
		if set {
			if diag := checkRegistryLocation(s, attr.Expr.Range()); diag != nil {
				diags = append(diags, diag)
			} else {
				r.URL = s
			}
		}
	}
	diags = d.boolAttr(content, "block_public", &r.BlockPublic, diags)
	return diags
}

// checkRegistryLocation checks a registry location as registries.conf takes it:
// host[:port][/path], no scheme.
func checkRegistryLocation(s string, rng hcl.Range) *hcl.Diagnostic {
	example := " Write the registry's host, port and optional path, like \"registry.internal:5000\"."
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		return errorAt(rng, "Invalid registry URL", "The registry url %q has a scheme (%s://); container tools take the location without one: %q.", s, scheme, rest)
	}
	u, err := url.Parse("//" + s)
	if err != nil || u.Host == "" || strings.ContainsAny(s, " \t?#@") || u.Hostname() == "" {
		return errorAt(rng, "Invalid registry URL", "The registry url %q is not a location."+example, s)
	}
	if p := u.Port(); p != "" {
		if _, ok := parsePortNumber(p); !ok {
			return errorAt(rng, "Invalid registry URL", "The registry url %q has a port that is not a number from 1 to 65535."+example, s)
		}
	}
	return nil
}

func parsePortNumber(s string) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > 65535 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= 65535
}

var imageSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "flavor", Required: true},
		{Name: "network"},
		{Name: "mirrors"},
		{Name: "registries"},
		{Name: "profile"},
		{Name: "min_score"},
		{Name: "keep"},
		{Name: "retire"},
		{Name: "keep_builder_on_failure"},
		{Name: "ssh_user"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "source"}},
}

var imageSourceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "name"},
		{Name: "tags"},
		{Name: "properties"},
		{Name: "most_recent"},
	},
}

func (d *decoder) decodeImage(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(imageSchema)
	img := &Image{Name: b.Labels[0], Retire: RetireDeactivate, SSHUser: d.cfg.SSH.User, DeclRange: b.DefRange}
	d.cfg.Images = append(d.cfg.Images, img)
	sb, sDiags := singleBlock(content.Blocks, "source", "image")
	diags = append(diags, sDiags...)
	if sb == nil {
		diags = append(diags, errorAt(b.DefRange, "Missing source block",
			"An image is built from a base image in Glance: add a source block, like source { name = \"debian-12-base\" }."))
	} else {
		src, srcDiags := d.decodeImageSource(sb)
		diags = append(diags, srcDiags...)
		img.Source = src
	}
	diags = d.nameAttr(content, "flavor", &img.Flavor, diags)
	diags = d.nameAttr(content, "network", &img.Network, diags)
	if attr, ok := content.Attributes["mirrors"]; ok {
		names, nDiags := d.evalRefs(attr.Expr, "mirror", "mirrors")
		diags = append(diags, nDiags...)
		img.Mirrors = names
	}
	if attr, ok := content.Attributes["registries"]; ok {
		names, nDiags := d.evalRefs(attr.Expr, "registry", "registries")
		diags = append(diags, nDiags...)
		img.Registries = names
	}
	if attr, ok := content.Attributes["profile"]; ok {
		ref, rDiags := d.evalProfileRef(attr.Expr)
		diags = append(diags, rDiags...)
		img.Profile = ref
	}
	if attr, ok := content.Attributes["min_score"]; ok {
		s, sDiags := d.evalScore(attr.Expr)
		diags = append(diags, sDiags...)
		img.MinScore = s
	}
	if attr, ok := content.Attributes["keep"]; ok {
		n, _, nDiags := d.evalInt(attr.Expr, 1, 1000, "keep")
		diags = append(diags, nDiags...)
		img.Keep = n
	}
	if attr, ok := content.Attributes["retire"]; ok {
		s, set, sDiags := d.evalEnum(attr.Expr, "retire", RetireDeactivate, RetireDelete)
		diags = append(diags, sDiags...)
		if set {
			img.Retire = s
		}
	}
	diags = d.boolAttr(content, "keep_builder_on_failure", &img.KeepBuilderOnFailure, diags)
	if attr, ok := content.Attributes["ssh_user"]; ok {
		s, sDiags := d.evalName(attr.Expr, "ssh_user")
		diags = append(diags, sDiags...)
		if s != "" {
			img.SSHUser = s
		}
	}
	return diags
}

func (d *decoder) decodeImageSource(b *hcl.Block) (ImageSource, hcl.Diagnostics) {
	content, diags := b.Body.Content(imageSourceSchema)
	src := ImageSource{DeclRange: b.DefRange}
	diags = d.nameAttr(content, "name", &src.Name, diags)
	if attr, ok := content.Attributes["tags"]; ok {
		tags, tDiags := d.evalStrings(attr.Expr, "tags")
		diags = append(diags, tDiags...)
		src.Tags = tags
	}
	if attr, ok := content.Attributes["properties"]; ok {
		props, pDiags := d.evalStringMap(attr.Expr, "properties")
		diags = append(diags, pDiags...)
		if len(props) > 0 {
			src.Properties = props
		}
	}
	diags = d.boolAttr(content, "most_recent", &src.MostRecent, diags)
	if !diags.HasErrors() && src.Name == "" && len(src.Tags) == 0 && len(src.Properties) == 0 {
		diags = append(diags, errorAt(b.DefRange, "Source selects every image",
			"A source block selects the base image by name, tags or properties; it sets none of them."))
	}
	return src, diags
}
