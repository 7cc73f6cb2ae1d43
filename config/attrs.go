package config

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// This file holds the attribute decoders the block types share: numbers, durations,
// enumerations, lists, paths and references to other blocks. Each returns what it read and
// whether a value was set; an unknown value (which follows an error reported already) is
// "not set" without a diagnostic of its own.

// known evaluates expr and says whether it has a value to decode: not after an error, not
// null and wholly known.
func (d *decoder) known(expr hcl.Expression) (cty.Value, bool, hcl.Diagnostics) {
	v, diags := d.eval(expr)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return v, false, diags
	}
	return v, true, diags
}

// evalInt evaluates expr as a whole number in [lo, hi]; what names the attribute.
func (d *decoder) evalInt(expr hcl.Expression, lo, hi int64, what string) (int, bool, hcl.Diagnostics) {
	v, ok, diags := d.known(expr)
	if !ok {
		return 0, false, diags
	}
	nv, err := convert.Convert(v, cty.Number)
	if err == nil {
		if n, inRange := wholeNumber(nv, lo, hi); inRange {
			return int(n), true, diags
		}
	}
	bound := fmt.Sprintf("from %d to %d", lo, hi)
	if hi == maxCount {
		bound = fmt.Sprintf("of at least %d", lo)
	}
	return 0, false, append(diags, errorAt(expr.Range(), "Invalid "+what,
		"%s is a whole number %s; got %s.", what, bound, showValue(v)))
}

// maxCount bounds counts that have no natural upper bound.
const maxCount = 1 << 20

// evalScore evaluates expr as a compliance score, 0 to 100 (fractions allowed: oscap
// scores are).
func (d *decoder) evalScore(expr hcl.Expression) (*float64, hcl.Diagnostics) {
	v, ok, diags := d.known(expr)
	if !ok {
		return nil, diags
	}
	nv, err := convert.Convert(v, cty.Number)
	if err == nil && nv.AsBigFloat().Cmp(big.NewFloat(0)) >= 0 && nv.AsBigFloat().Cmp(big.NewFloat(100)) <= 0 {
		f, _ := nv.AsBigFloat().Float64()
		return &f, diags
	}
	return nil, append(diags, errorAt(expr.Range(), "Invalid min_score",
		"min_score is a compliance score from 0 to 100, like 80; got %s.", showValue(v)))
}

// evalDuration evaluates expr as a positive duration written as Go writes them: "20s",
// "15m", "1h30m".
func (d *decoder) evalDuration(expr hcl.Expression, what string) (time.Duration, bool, hcl.Diagnostics) {
	s, set, diags := d.evalSetString(expr)
	if !set {
		return 0, false, diags
	}
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, false, append(diags, errorAt(expr.Range(), "Invalid duration",
			"%s is a duration: a number and a unit (ms, s, m or h), like \"20s\", \"15m\" or \"1h30m\"; got %q.", what, s))
	}
	if dur <= 0 {
		return 0, false, append(diags, errorAt(expr.Range(), "Invalid duration",
			"%s must be longer than zero; got %q.", what, s))
	}
	return dur, true, diags
}

// evalSetString evaluates expr as a string and says whether it was set (not null, known,
// no error).
func (d *decoder) evalSetString(expr hcl.Expression) (string, bool, hcl.Diagnostics) {
	v, ok, diags := d.known(expr)
	if !ok {
		return "", false, diags
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", false, append(diags, errorAt(expr.Range(), "Incorrect value type", "A string is required here: %s.", err))
	}
	return s.AsString(), true, diags
}

// evalName evaluates expr as a non-empty string without spaces: a flavor, a network, a
// user name.
func (d *decoder) evalName(expr hcl.Expression, what string) (string, hcl.Diagnostics) {
	s, set, diags := d.evalSetString(expr)
	if !set {
		return "", diags
	}
	if strings.TrimSpace(s) == "" {
		return "", append(diags, errorAt(expr.Range(), "Empty "+what, "%s must not be empty: leave the attribute out instead.", what))
	}
	if s != strings.TrimSpace(s) {
		return "", append(diags, errorAt(expr.Range(), "Invalid "+what, "%s %q starts or ends with white space.", what, s))
	}
	return s, diags
}

// evalEnum evaluates expr as one of allowed, suggesting the closest on a mistake.
func (d *decoder) evalEnum(expr hcl.Expression, what string, allowed ...string) (string, bool, hcl.Diagnostics) {
	s, set, diags := d.evalSetString(expr)
	if !set {
		return "", false, diags
	}
	for _, a := range allowed {
		if s == a {
			return s, true, diags
		}
	}
	detail := fmt.Sprintf("%s is one of %s; got %q.", what, quoteList(allowed), s)
	if m := didYouMean(strings.ToLower(s), allowed); m != "" {
		detail += fmt.Sprintf(" Did you mean %q?", m)
	}
	return "", false, append(diags, errorAt(expr.Range(), "Invalid "+what, "%s", detail))
}

// quoteList renders ["a", "b", "c"] as `"a", "b" or "c"`.
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// evalStrings evaluates expr as a list of non-empty strings. Each error points at the
// element when the list is written literally.
func (d *decoder) evalStrings(expr hcl.Expression, what string) ([]string, hcl.Diagnostics) {
	list, _, diags := d.evalStringsAt(expr, what)
	return list, diags
}

// evalStringsAt is evalStrings that also returns where each string was written.
func (d *decoder) evalStringsAt(expr hcl.Expression, what string) ([]string, []hcl.Range, hcl.Diagnostics) {
	v, ok, diags := d.known(expr)
	if !ok {
		return nil, nil, diags
	}
	ty := v.Type()
	if !(ty.IsListType() || ty.IsTupleType() || ty.IsSetType()) {
		return nil, nil, append(diags, errorAt(expr.Range(), "Incorrect value type",
			"%s is a list of strings, like [\"a\", \"b\"]; got %s.", what, ty.FriendlyName()))
	}
	exprs, isList := elementExprs(expr)
	var out []string
	var ranges []hcl.Range
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, ev := it.Element()
		rng := expr.Range()
		if isList && len(exprs) == v.LengthInt() {
			rng = exprs[i].Range()
		}
		sv, err := convert.Convert(ev, cty.String)
		if err != nil || sv.IsNull() {
			diags = append(diags, errorAt(rng, "Incorrect value type", "Each element of %s is a string; got %s.", what, showValue(ev)))
			continue
		}
		if strings.TrimSpace(sv.AsString()) == "" {
			diags = append(diags, errorAt(rng, "Empty string in "+what, "The elements of %s must not be empty.", what))
			continue
		}
		out = append(out, sv.AsString())
		ranges = append(ranges, rng)
	}
	return out, ranges, diags
}

// evalStringMap evaluates expr as a map of strings, like {os_distro = "debian"}.
func (d *decoder) evalStringMap(expr hcl.Expression, what string) (map[string]string, hcl.Diagnostics) {
	v, ok, diags := d.known(expr)
	if !ok {
		return nil, diags
	}
	ty := v.Type()
	if !(ty.IsMapType() || ty.IsObjectType()) {
		return nil, append(diags, errorAt(expr.Range(), "Incorrect value type",
			"%s is a map of strings, like {key = \"value\"}; got %s.", what, ty.FriendlyName()))
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		sv, err := convert.Convert(ev, cty.String)
		if err != nil || sv.IsNull() {
			diags = append(diags, errorAt(expr.Range(), "Incorrect value type",
				"Each value of %s is a string; %s is %s.", what, k.AsString(), showValue(ev)))
			continue
		}
		out[k.AsString()] = sv.AsString()
	}
	return out, diags
}

// evalPath evaluates expr as a file path: ~ is the home directory, and a relative path is
// relative to base (the configuration's directory, unless said otherwise). With mustExist
// the file must be there.
func (d *decoder) evalPath(expr hcl.Expression, base, what string, mustExist bool) (string, hcl.Diagnostics) {
	s, diags := d.evalName(expr, what)
	if s == "" {
		return "", diags
	}
	p, diag := d.resolvePath(s, base, expr.Range(), what)
	if diag != nil {
		return "", append(diags, diag)
	}
	if !mustExist {
		return p, diags
	}
	info, err := os.Stat(p)
	switch {
	case err != nil:
		return "", append(diags, errorAt(expr.Range(), "File not found",
			"The %s %q cannot be read: %s: %s. A relative path is relative to %s.", what, s, p, ioReason(err), d.describeBase(base)))
	case info.IsDir():
		return "", append(diags, errorAt(expr.Range(), "Not a file",
			"The %s %q is a directory (%s); name a file.", what, s, p))
	}
	return p, diags
}

// resolvePath expands ~ and makes p relative to base.
func (d *decoder) resolvePath(p, base string, rng hcl.Range, what string) (string, *hcl.Diagnostic) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := d.home()
		if home == "" {
			return "", errorAt(rng, "Cannot expand ~",
				"The %s %q starts with ~, but the home directory is not known: set HOME, or write the path in full.", what, p)
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
	}
	if strings.HasPrefix(p, "~") {
		return "", errorAt(rng, "Cannot expand ~",
			"The %s %q names another user's home directory, which hardenctl does not look up: write the path in full.", what, p)
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	return filepath.Join(base, p), nil
}

// home is the home directory: HOME from the options' environment, or else the process's.
func (d *decoder) home() string {
	home := ""
	for _, kv := range d.environ {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return home
}

// evalRef evaluates expr as a reference to a block of type kind (kind.NAME), or, when alt
// is not empty, a string naming something outside the configuration (a Glance image, a
// built-in profile); alt then says what such a string is. It returns the name and whether
// it is a reference.
func (d *decoder) evalRef(expr hcl.Expression, kind, alt string) (name string, isRef bool, diags hcl.Diagnostics) {
	v, ok, diags := d.known(expr)
	if !ok {
		return "", false, diags
	}
	want := fmt.Sprintf("a reference to %s %s block, like %s.NAME", article(kind), kind, kind)
	if alt != "" {
		want += ", or " + alt
	}
	ty := v.Type()
	switch {
	case ty == cty.String && alt != "":
		s := v.AsString()
		if strings.TrimSpace(s) == "" || s != strings.TrimSpace(s) {
			return "", false, append(diags, errorAt(expr.Range(), "Invalid "+kind,
				"The %s is %s; got %q.", kind, want, s))
		}
		return s, false, diags
	case ty.IsObjectType() && ty.HasAttribute("kind"):
		k := v.GetAttr("kind")
		if !k.IsNull() && k.Type() == cty.String && k.AsString() == kind && ty.HasAttribute("name") {
			n := v.GetAttr("name")
			if n.Type() == cty.String && !n.IsNull() && d.declared[kind][n.AsString()] != nil {
				return n.AsString(), true, diags
			}
			return "", false, append(diags, errorAt(expr.Range(), "Reference to undeclared "+kind,
				"There is no %s named %s.", kind, showValue(n)))
		}
		if !k.IsNull() && k.Type() == cty.String {
			return "", false, append(diags, errorAt(expr.Range(), "Invalid "+kind,
				"The %s is %s; got a reference to %s.", kind, want, k.AsString()))
		}
	}
	detail := fmt.Sprintf("The %s is %s; got %s.", kind, want, showValue(v))
	if ty == cty.String && d.declared[kind][v.AsString()] != nil {
		detail += fmt.Sprintf(" Did you mean %s.%s?", kind, v.AsString())
	}
	return "", false, append(diags, errorAt(expr.Range(), "Invalid "+kind, "%s", detail))
}

// evalRefs evaluates expr as a list of references to blocks of type kind, each at most once.
func (d *decoder) evalRefs(expr hcl.Expression, kind, what string) ([]string, hcl.Diagnostics) {
	exprs, isList := elementExprs(expr)
	if !isList {
		v, ok, diags := d.known(expr)
		if ok {
			diags = append(diags, errorAt(expr.Range(), "Incorrect value type",
				"%s is a list of references, like [%s.NAME]; got %s.", what, kind, showValue(v)))
		}
		return nil, diags
	}
	var names []string
	var diags hcl.Diagnostics
	first := map[string]hcl.Range{}
	for _, e := range exprs {
		name, isRef, eDiags := d.evalRef(e, kind, "")
		diags = append(diags, eDiags...)
		if !isRef {
			continue
		}
		if prev, dup := first[name]; dup {
			diags = append(diags, errorAt(e.Range(), "Duplicate "+kind+" in "+what,
				"%s.%s is already in %s at %s.", kind, name, what, at(prev)))
			continue
		}
		first[name] = e.Range()
		names = append(names, name)
	}
	return names, diags
}

// singleBlock returns the first block of type typ among blocks, and an error for each
// further one, saying where the first was.
func singleBlock(blocks hcl.Blocks, typ, in string) (*hcl.Block, hcl.Diagnostics) {
	var first *hcl.Block
	var diags hcl.Diagnostics
	for _, b := range blocks {
		if b.Type != typ {
			continue
		}
		if first != nil {
			diags = append(diags, errorAt(b.DefRange, fmt.Sprintf("Duplicate %s block", typ),
				"%s %s has at most one %s block; the first was declared at %s.", strings.ToUpper(article(in)[:1])+article(in)[1:], in, typ, at(first.DefRange)))
			continue
		}
		first = b
	}
	return first, diags
}

// checkBlockName returns a label check for block types whose names go into cloud resource
// names: a lower-case letter, then a-z, 0-9, '_' and '-', at most max characters.
func checkBlockName(kind string, max int) func(string, hcl.Range) hcl.Diagnostics {
	pattern := regexp.MustCompile(fmt.Sprintf(`^[a-z][a-z0-9_-]{0,%d}$`, max-1))
	return func(name string, rng hcl.Range) hcl.Diagnostics {
		if pattern.MatchString(name) {
			return nil
		}
		return hcl.Diagnostics{errorAt(rng, "Invalid "+kind+" name",
			"The %s name %q is not valid: it must start with a lower-case letter and hold only a-z, 0-9, '_' and '-', at most %d characters.", kind, name, max)}
	}
}

// sortByName sorts blocks by their name.
func sortByName[T any](list []T, name func(T) string) {
	sort.Slice(list, func(i, j int) bool { return name(list[i]) < name(list[j]) })
}

// evalImageRef evaluates expr as image.NAME or the name of a Glance image.
func (d *decoder) evalImageRef(expr hcl.Expression) (ImageRef, hcl.Diagnostics) {
	name, isRef, diags := d.evalRef(expr, "image", "the name of an image in Glance, like \"debian-12\"")
	if name == "" {
		return ImageRef{}, diags
	}
	return ImageRef{Name: name, Managed: isRef, Range: expr.Range()}, diags
}

// evalProfileRef evaluates expr as profile.NAME or the name of a built-in profile.
func (d *decoder) evalProfileRef(expr hcl.Expression) (ProfileRef, hcl.Diagnostics) {
	name, isRef, diags := d.evalRef(expr, "profile", "the name of a built-in profile, like \"standard\"")
	if name == "" {
		return ProfileRef{}, diags
	}
	return ProfileRef{Name: name, Builtin: !isRef, Range: expr.Range()}, diags
}

// article is "a" or "an", for kind.
func article(kind string) string {
	if strings.ContainsAny(kind[:1], "aeiou") { // "an upgrade"
		return "an"
	}
	return "a"
}

// describeBase says what a base directory of relative paths is.
func (d *decoder) describeBase(base string) string {
	if base == d.cfg.Compliance.ContentDir && base != d.dir {
		return "the content directory (compliance.content_dir), " + base
	}
	return "the configuration's directory, " + base
}

// nameAttr, stringAttr and boolAttr decode an optional attribute of a block's content into
// *dst (evalName, evalString, evalBool) and return diags with what they found wrong.
func (d *decoder) nameAttr(content *hcl.BodyContent, name string, dst *string, diags hcl.Diagnostics) hcl.Diagnostics {
	if attr, ok := content.Attributes[name]; ok {
		s, sDiags := d.evalName(attr.Expr, name)
		*dst = s
		diags = append(diags, sDiags...)
	}
	return diags
}

func (d *decoder) stringAttr(content *hcl.BodyContent, name string, dst *string, diags hcl.Diagnostics) hcl.Diagnostics {
	if attr, ok := content.Attributes[name]; ok {
		s, sDiags := d.evalString(attr.Expr)
		*dst = s
		diags = append(diags, sDiags...)
	}
	return diags
}

func (d *decoder) boolAttr(content *hcl.BodyContent, name string, dst *bool, diags hcl.Diagnostics) hcl.Diagnostics {
	if attr, ok := content.Attributes[name]; ok {
		b, bDiags := d.evalBool(attr.Expr)
		*dst = b
		diags = append(diags, bDiags...)
	}
	return diags
}
