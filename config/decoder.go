package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// blockSpec describes one top-level block type. Adding a block type to the language is
// adding one entry to rootBlocks and its decode function; the root schema, duplicate
// checks and references (`zone.app`, `bastion`) follow from the entry.
type blockSpec struct {
	Type   string
	Labels []string // label names; none for an unlabelled block
	// Single blocks may appear at most once in a configuration.
	Single bool
	// Referenceable blocks can be named in expressions: a labelled block type as
	// `TYPE.LABEL`, a single unlabelled one as `TYPE`. Each evaluates to an object
	// {kind = TYPE, name = LABEL} (no name for an unlabelled block).
	Referenceable bool
	// CheckLabel reports a label that is not a valid name for this block type.
	CheckLabel func(label string, rng hcl.Range) hcl.Diagnostics
	// Decode decodes one block into d.cfg. Nil for the block types decoded in their own
	// stage before everything else (variable, locals).
	Decode func(d *decoder, b *hcl.Block) hcl.Diagnostics
}

// rootBlocks lists the top-level block types in the order they are decoded.
func rootBlocks() []blockSpec {
	return []blockSpec{
		{Type: "variable", Labels: []string{"name"}, CheckLabel: checkVariableName},
		{Type: "locals"},
		{Type: "cloud", Single: true, Decode: (*decoder).decodeCloud},
		{Type: "ssh", Single: true, Decode: (*decoder).decodeSSH},
		{Type: "bastion", Single: true, Referenceable: true, Decode: (*decoder).decodeBastion},
		{Type: "zone", Labels: []string{"name"}, Referenceable: true, CheckLabel: checkZoneName, Decode: (*decoder).decodeZone},
		{Type: "compliance", Single: true, Decode: (*decoder).decodeCompliance},
		{Type: "profile", Labels: []string{"name"}, Referenceable: true, CheckLabel: checkBlockName("profile", 63), Decode: (*decoder).decodeProfile},
		{Type: "mirror", Labels: []string{"name"}, Referenceable: true, CheckLabel: checkBlockName("mirror", 63), Decode: (*decoder).decodeMirror},
		{Type: "registry", Labels: []string{"name"}, Referenceable: true, CheckLabel: checkBlockName("registry", 63), Decode: (*decoder).decodeRegistry},
		{Type: "image", Labels: []string{"name"}, Referenceable: true, CheckLabel: checkBlockName("image", 63), Decode: (*decoder).decodeImage},
		{Type: "fleet", Labels: []string{"name"}, Referenceable: true, CheckLabel: checkBlockName("fleet", 31), Decode: (*decoder).decodeFleet},
		{Type: "schedule", Labels: []string{"name"}, CheckLabel: checkBlockName("schedule", 31), Decode: (*decoder).decodeSchedule},
	}
}

// rootSchemaAttributes are the top-level attributes.
var rootSchemaAttributes = []hcl.AttributeSchema{
	{Name: "name"},
}

// decoder holds the state of one Load call: the configuration being built and what has been
// declared and evaluated so far.
type decoder struct {
	loader *Loader
	dir    string // the configuration's directory, for the default name
	specs  []blockSpec
	cfg    *Config

	// blocks are the top-level blocks by type, duplicates removed.
	blocks map[string][]*hcl.Block
	// declared holds, per referenceable labelled type, the block of each label.
	declared map[string]map[string]*hcl.Block

	variables map[string]*Variable
	varValues map[string]cty.Value
	locals    map[string]cty.Value
	localDefs map[string]*hcl.Attribute
	functions map[string]function.Function
	budget    *budget                                       // what evaluation may still make
	ops       map[*hclsyntax.Operation]*hclsyntax.Operation // bounded arithmetic, for bound
	environ   []string                                      // LoadOptions.Environ, for HOME
	// ctx is the full evaluation context once locals are evaluated; nil before.
	ctx *hcl.EvalContext
}

func newDecoder(l *Loader, dir string) *decoder {
	b := &budget{}
	return &decoder{
		budget:    b,
		ops:       boundedOps(),
		loader:    l,
		dir:       dir,
		specs:     rootBlocks(),
		cfg:       &Config{},
		blocks:    map[string][]*hcl.Block{},
		declared:  map[string]map[string]*hcl.Block{},
		variables: map[string]*Variable{},
		varValues: map[string]cty.Value{},
		locals:    map[string]cty.Value{},
		localDefs: map[string]*hcl.Attribute{},
		functions: functions(b),
	}
}

func (d *decoder) spec(typ string) *blockSpec {
	for i := range d.specs {
		if d.specs[i].Type == typ {
			return &d.specs[i]
		}
	}
	return nil
}

// decode runs the stages: declare the blocks, then variables, locals, the name, and every
// other block in rootBlocks order.
func (d *decoder) decode(files []*hcl.File, opts LoadOptions) hcl.Diagnostics {
	schema := &hcl.BodySchema{Attributes: rootSchemaAttributes}
	for _, s := range d.specs {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: s.Type, LabelNames: s.Labels})
	}
	content, diags := hcl.MergeFiles(files).Content(schema)
	d.environ = opts.Environ
	d.setDefaults()

	diags = append(diags, d.declare(content.Blocks)...)
	diags = append(diags, d.decodeVariables(opts)...)
	diags = append(diags, d.decodeLocals()...)
	d.ctx = d.evalContext()
	diags = append(diags, d.decodeName(content.Attributes["name"], files)...)
	for _, s := range d.specs {
		if s.Decode == nil {
			continue
		}
		for _, b := range d.blocks[s.Type] {
			diags = append(diags, s.Decode(d, b)...)
		}
	}
	sort.Slice(d.cfg.Zones, func(i, j int) bool { return d.cfg.Zones[i].Name < d.cfg.Zones[j].Name })
	sortByName(d.cfg.Profiles, func(p *Profile) string { return p.Name })
	sortByName(d.cfg.Mirrors, func(m *Mirror) string { return m.Name })
	sortByName(d.cfg.Registries, func(r *Registry) string { return r.Name })
	sortByName(d.cfg.Images, func(i *Image) string { return i.Name })
	sortByName(d.cfg.Fleets, func(f *Fleet) string { return f.Name })
	sortByName(d.cfg.Schedules, func(s *Schedule) string { return s.Name })
	for _, name := range sortedKeys(d.variables) {
		d.cfg.Variables = append(d.cfg.Variables, d.variables[name])
	}
	return diags
}

// declare groups the blocks by type, reports duplicates (saying where the first one was)
// and bad labels, and records what expressions may refer to.
func (d *decoder) declare(blocks hcl.Blocks) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, s := range d.specs {
		if s.Referenceable && len(s.Labels) > 0 {
			d.declared[s.Type] = map[string]*hcl.Block{}
		}
	}
	seen := map[string]map[string]*hcl.Block{}
	for _, b := range blocks {
		s := d.spec(b.Type)
		if s.Single {
			if prev := d.blocks[b.Type]; len(prev) > 0 {
				diags = append(diags, errorAt(b.DefRange, fmt.Sprintf("Duplicate %s block", b.Type),
					"A configuration has at most one %s block; the first was declared at %s.", b.Type, at(prev[0].DefRange)))
				continue
			}
		}
		if len(b.Labels) > 0 {
			label := b.Labels[0]
			if seen[b.Type] == nil {
				seen[b.Type] = map[string]*hcl.Block{}
			}
			if prev := seen[b.Type][label]; prev != nil {
				diags = append(diags, errorAt(b.LabelRanges[0], fmt.Sprintf("Duplicate %s %q", b.Type, label),
					"A %s named %s was already declared at %s.", b.Type, label, at(prev.DefRange)))
				continue
			}
			seen[b.Type][label] = b
			if s.CheckLabel != nil {
				diags = append(diags, s.CheckLabel(label, b.LabelRanges[0])...)
			}
			if s.Referenceable {
				d.declared[b.Type][label] = b
			}
		}
		d.blocks[b.Type] = append(d.blocks[b.Type], b)
	}
	return diags
}

// decodeName sets the configuration's name from the `name` attribute, or else from the
// directory.
func (d *decoder) decodeName(attr *hcl.Attribute, files []*hcl.File) hcl.Diagnostics {
	if attr != nil {
		name, diags := d.evalString(attr.Expr)
		if diags.HasErrors() {
			return diags
		}
		if !configNamePattern.MatchString(name) {
			return append(diags, errorAt(attr.Expr.Range(), "Invalid configuration name",
				"The name %q is not valid: it must start with a lower-case letter and hold only a-z, 0-9 and '-', at most 39 characters. It goes into the ownership tags of every managed resource.", name))
		}
		d.cfg.Name = name
		return diags
	}
	name := defaultConfigName(d.dir)
	if !configNamePattern.MatchString(name) {
		subject := hcl.Range{Filename: d.dir, Start: hcl.InitialPos, End: hcl.InitialPos}
		if len(files) > 0 {
			subject = files[0].Body.MissingItemRange()
		}
		return hcl.Diagnostics{errorAt(subject, "Missing configuration name",
			"The directory name %q does not make a valid configuration name (a lower-case letter, then a-z, 0-9 and '-', at most 39 characters). Set one with a top-level attribute, like: name = \"platform\".", filepathBase(d.dir))}
	}
	d.cfg.Name = name
	return nil
}

// evalContext is the context every expression outside variable blocks is evaluated in:
// var, local, the referenceable blocks, and the functions.
func (d *decoder) evalContext() *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(d.varValues),
		"local": cty.ObjectVal(d.locals),
	}
	for _, s := range d.specs {
		if !s.Referenceable {
			continue
		}
		if len(s.Labels) == 0 {
			if len(d.blocks[s.Type]) > 0 {
				vars[s.Type] = cty.ObjectVal(map[string]cty.Value{"kind": cty.StringVal(s.Type)})
			}
			continue
		}
		objs := map[string]cty.Value{}
		for label := range d.declared[s.Type] {
			objs[label] = cty.ObjectVal(map[string]cty.Value{
				"kind": cty.StringVal(s.Type),
				"name": cty.StringVal(label),
			})
		}
		vars[s.Type] = cty.ObjectVal(objs)
	}
	return &hcl.EvalContext{Variables: vars, Functions: d.functions}
}

// checkReferences reports every reference in expr to a variable, local or block that is
// not declared, at the reference, with the declared names and a suggestion. Roots that
// ctx does not define are left to hcl ("Unknown variable").
func (d *decoder) checkReferences(ctx *hcl.EvalContext, expr hcl.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		root := t.RootName()
		s := d.spec(root)
		if s != nil && s.Referenceable && len(s.Labels) == 0 {
			if len(d.blocks[root]) == 0 {
				diags = append(diags, errorAt(t.SourceRange(), fmt.Sprintf("Reference to %s without a %s block", root, root),
					"This configuration has no %s block, so there is no %s to refer to. Add a %s block, or refer to something else here.", root, root, root))
			}
			continue
		}
		if _, ok := ctx.Variables[root]; !ok {
			continue
		}
		switch {
		case root == "var":
			diags = append(diags, checkName(t, "input variable", "var", d.variables)...)
		case root == "local":
			diags = append(diags, checkName(t, "local value", "local", d.localDefs)...)
		case s != nil && s.Referenceable:
			diags = append(diags, checkName(t, s.Type, s.Type, d.declared[s.Type])...)
		}
	}
	return diags
}

// checkName reports a traversal root.NAME whose NAME is not a key of declared.
func checkName[V any](t hcl.Traversal, what, root string, declaredMap map[string]V) hcl.Diagnostics {
	if len(t) < 2 {
		return nil
	}
	name := traversalName(t)
	if name == "" {
		return nil
	}
	if _, ok := declaredMap[name]; ok {
		return nil
	}
	declared := sortedKeys(declaredMap)
	var detail strings.Builder
	fmt.Fprintf(&detail, "There is no %s named %q.", what, name)
	if len(declared) == 0 {
		fmt.Fprintf(&detail, " This configuration declares none.")
	} else {
		refs := make([]string, len(declared))
		for i, n := range declared {
			refs[i] = root + "." + n
		}
		fmt.Fprintf(&detail, " Declared: %s.", strings.Join(refs, ", "))
	}
	if s := didYouMean(name, declared); s != "" {
		fmt.Fprintf(&detail, " Did you mean %s.%s?", root, s)
	}
	return hcl.Diagnostics{errorAt(t.SourceRange(), "Reference to undeclared "+what, "%s", detail.String())}
}

// traversalName returns NAME of a traversal root.NAME or root["NAME"], or "".
func traversalName(t hcl.Traversal) string {
	if len(t) < 2 {
		return ""
	}
	switch step := t[1].(type) {
	case hcl.TraverseAttr:
		return step.Name
	case hcl.TraverseIndex:
		if step.Key.IsKnown() && !step.Key.IsNull() && step.Key.Type() == cty.String {
			return step.Key.AsString()
		}
	}
	return ""
}

// evalIn checks the references of expr, then evaluates it in ctx. A value whose references
// are wrong is unknown, so that what depends on it reports nothing more. A value made of a
// sensitive variable is an error (sensitiveUse): every attribute goes into the cloud or a
// plan, or into messages.
func (d *decoder) evalIn(ctx *hcl.EvalContext, expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	v, diags := d.evalMarked(ctx, expr)
	if v.ContainsMarked() {
		return cty.DynamicVal, append(diags, d.sensitiveUse(expr))
	}
	return v, diags
}

// sensitiveMark marks the values of sensitive variables, and all made of them.
const sensitiveMark = "sensitive"

// sensitiveUse is the error for a sensitive value used in expr.
func (d *decoder) sensitiveUse(expr hcl.Expression) *hcl.Diagnostic {
	var names []string
	for _, t := range expr.Variables() {
		if name := traversalName(t); t.RootName() == "var" && d.variables[name] != nil && d.variables[name].Sensitive {
			names = append(names, "var."+name)
		}
	}
	what := "a sensitive variable"
	if len(names) > 0 {
		what = strings.Join(names, ", ")
	}
	return errorAt(expr.Range(), "Sensitive value not allowed here",
		"This expression is made of %s, which is marked sensitive. hardenctl writes what is set here into the cloud, plans or messages (names, descriptions, tags, addresses, rules), where it would be shown; a sensitive value may be used only in the validation of its variable.", what)
}

// evalMarked is evalIn that lets marked values through.
func (d *decoder) evalMarked(ctx *hcl.EvalContext, expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	diags := d.checkReferences(ctx, expr)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	v, evalDiags := bound(expr, d.ops).Value(ctx)
	diags = append(diags, boundDiagnostics(evalDiags)...)
	if evalDiags.HasErrors() {
		return cty.DynamicVal, diags
	}
	if !sizeOf(v).ok {
		return cty.DynamicVal, append(diags, errorAt(expr.Range(), "Value too large",
			"%s.", errTooLarge{"This value is too large"}))
	}
	return v, diags
}

// boundDiagnostics rewrites the diagnostics of the functions of bound to read as what the
// user wrote: a template, a for expression, a value too large.
func boundDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, diag := range diags {
		extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](diag)
		if !ok {
			continue
		}
		err := extra.FunctionCallError()
		var large errTooLarge
		switch {
		case errors.As(err, &large):
			diag.Summary = "Value too large"
			diag.Detail = upperFirst(large.Error()) + "."
		case extra.CalledFunctionName() == templateFuncName || extra.CalledFunctionName() == templateJoinFuncName:
			diag.Summary = "Invalid template interpolation value"
			diag.Detail = upperFirst(err.Error()) + "."
		}
	}
	return diags
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// eval evaluates expr in the full context.
func (d *decoder) eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	ctx := d.ctx
	if ctx == nil {
		ctx = d.evalContext()
	}
	return d.evalIn(ctx, expr)
}
