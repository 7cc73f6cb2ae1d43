package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Variable is an input variable with its final value, after defaults, the environment,
// -var-file and -var.
type Variable struct {
	Name        string
	Description string
	Type        cty.Type // cty.DynamicPseudoType when the block sets no type
	Sensitive   bool     // the value is never shown
	Value       cty.Value
	DeclRange   hcl.Range
}

// variableDecl is a variable block as written, before its value is known.
type variableDecl struct {
	v           *Variable
	literal     bool // values from -var and the environment are raw strings, not HCL
	def         cty.Value
	validations []variableValidation
}

type variableValidation struct {
	condition    hcl.Expression
	errorMessage hcl.Expression
	declRange    hcl.Range
}

// givenValue is a value for a variable from outside the configuration, and where it came
// from.
type givenValue struct {
	value  cty.Value
	rng    hcl.Range
	source string // "-var", "-var-file" or "the environment"
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

// decodeVariables decodes the variable blocks, gathers the values given by the
// environment, -var-file and -var (in that order of precedence, lowest first), converts
// each to its variable's type and checks the validation rules.
func (d *decoder) decodeVariables(opts LoadOptions) hcl.Diagnostics {
	var diags hcl.Diagnostics
	decls := map[string]*variableDecl{}
	for _, b := range d.blocks["variable"] {
		decl, declDiags := d.decodeVariableBlock(b)
		diags = append(diags, declDiags...)
		decls[decl.v.Name] = decl
		d.variables[decl.v.Name] = decl.v
	}

	given := map[string]givenValue{}
	diags = append(diags, d.environValues(decls, opts.Environ, given)...)
	for _, path := range opts.VarFiles {
		diags = append(diags, d.varFileValues(decls, path, given)...)
	}
	for _, arg := range opts.Vars {
		diags = append(diags, d.varOptionValue(decls, arg, given)...)
	}

	for _, name := range sortedKeys(decls) {
		decl := decls[name]
		v := decl.v
		g, ok := given[name]
		switch {
		case ok:
			val, err := convert.Convert(g.value, v.Type)
			if err != nil {
				diags = append(diags, errorAt(g.rng, "Invalid value for variable",
					"The value given by %s is not suitable for var.%s, declared at %s: %s.", g.source, name, at(v.DeclRange), convertErr(err)))
				val = cty.UnknownVal(v.Type)
			}
			v.Value = val
		case decl.def != cty.NilVal:
			v.Value = decl.def
		default:
			diags = append(diags, errorAt(v.DeclRange, "No value for required variable",
				"The variable %q has no default, and no value was given. Give one on the command line with -var '%s=...', in a file passed with -var-file, or in the environment variable %s%s.", name, name, EnvVarPrefix, name))
			v.Value = cty.UnknownVal(v.Type)
		}
		d.varValues[name] = v.Value
		if v.Sensitive {
			// Expressions see the value marked: whatever is made of it is marked too,
			// and evalIn refuses it (see sensitiveUse).
			d.varValues[name] = v.Value.Mark(sensitiveMark)
		}
	}

	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(d.varValues)},
		Functions: d.functions,
	}
	for _, name := range sortedKeys(decls) {
		decl := decls[name]
		if !decl.v.Value.IsWhollyKnown() {
			continue
		}
		for _, rule := range decl.validations {
			diags = append(diags, d.checkValidation(ctx, decl.v, rule)...)
		}
	}
	return diags
}

func (d *decoder) decodeVariableBlock(b *hcl.Block) (*variableDecl, hcl.Diagnostics) {
	decl := &variableDecl{
		v:       &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange},
		literal: true,
	}
	content, diags := b.Body.Content(variableSchema)
	if attr, ok := content.Attributes["type"]; ok {
		ty, tyDiags := typeexpr.TypeConstraint(attr.Expr)
		diags = append(diags, tyDiags...)
		if !tyDiags.HasErrors() {
			decl.v.Type = ty
			decl.literal = ty == cty.String
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		s, sDiags := d.evalConstString(attr.Expr)
		diags = append(diags, sDiags...)
		decl.v.Description = s
	}
	if attr, ok := content.Attributes["sensitive"]; ok {
		v, vDiags := attr.Expr.Value(nil)
		diags = append(diags, vDiags...)
		if !vDiags.HasErrors() {
			bv, err := convert.Convert(v, cty.Bool)
			if err != nil || bv.IsNull() {
				diags = append(diags, errorAt(attr.Expr.Range(), "Incorrect value type", "sensitive must be true or false."))
			} else {
				decl.v.Sensitive = bv.True()
			}
		}
	}
	if attr, ok := content.Attributes["default"]; ok {
		v, vDiags := attr.Expr.Value(nil)
		diags = append(diags, vDiags...)
		if !vDiags.HasErrors() {
			val, err := convert.Convert(v, decl.v.Type)
			if err != nil {
				diags = append(diags, errorAt(attr.Expr.Range(), "Invalid default value for variable",
					"The default of var.%s does not match its type: %s.", decl.v.Name, convertErr(err)))
				val = cty.UnknownVal(decl.v.Type)
			}
			decl.def = val
		} else {
			decl.def = cty.UnknownVal(decl.v.Type)
		}
	}
	for _, vb := range content.Blocks {
		vc, vDiags := vb.Body.Content(validationSchema)
		diags = append(diags, vDiags...)
		if vDiags.HasErrors() {
			continue
		}
		decl.validations = append(decl.validations, variableValidation{
			condition:    vc.Attributes["condition"].Expr,
			errorMessage: vc.Attributes["error_message"].Expr,
			declRange:    vb.DefRange,
		})
	}
	return decl, diags
}

// evalConstString evaluates an expression that may not refer to anything.
func (d *decoder) evalConstString(expr hcl.Expression) (string, hcl.Diagnostics) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || !s.IsKnown() {
		return "", append(diags, errorAt(expr.Range(), "Incorrect value type", "A string is required here."))
	}
	if s.IsNull() {
		return "", diags
	}
	return s.AsString(), diags
}

// checkValidation evaluates one validation rule of v.
func (d *decoder) checkValidation(ctx *hcl.EvalContext, v *Variable, rule variableValidation) hcl.Diagnostics {
	cond, diags := d.evalMarked(ctx, rule.condition)
	if diags.HasErrors() {
		return diags
	}
	cond, _ = cond.UnmarkDeep()
	cond, err := convert.Convert(cond, cty.Bool)
	if err != nil || cond.IsNull() || !cond.IsKnown() {
		return append(diags, errorAt(rule.condition.Range(), "Invalid validation condition",
			"The condition of a validation rule of var.%s must be true or false.", v.Name))
	}
	if cond.True() {
		return diags
	}
	msg := "The value of var." + v.Name + " is not valid."
	mv, mDiags := d.evalMarked(ctx, rule.errorMessage)
	diags = append(diags, mDiags...)
	if mv.ContainsMarked() {
		msg += " (The validation's error message is not shown: it includes a sensitive value.)"
	} else if ms, err := convert.Convert(mv, cty.String); err == nil && !ms.IsNull() && ms.IsKnown() {
		msg = ms.AsString()
	}
	return append(diags, errorAt(rule.condition.Range(), "Invalid value for variable",
		"%s\n\nThis was checked by the validation rule of var.%s at %s.", msg, v.Name, at(rule.declRange)))
}

// environValues reads HARDENCTL_VAR_name=value for the declared variables; the environment
// may hold variables for other configurations, so undeclared names are ignored.
func (d *decoder) environValues(decls map[string]*variableDecl, environ []string, given map[string]givenValue) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, kv := range environ {
		rest, ok := strings.CutPrefix(kv, EnvVarPrefix)
		if !ok {
			continue
		}
		name, raw, ok := strings.Cut(rest, "=")
		decl := decls[name]
		if !ok || decl == nil {
			continue
		}
		g, gDiags := d.parseGiven(decl, raw, "the environment variable "+EnvVarPrefix+name)
		diags = append(diags, gDiags...)
		if !gDiags.HasErrors() {
			given[name] = g
		}
	}
	return diags
}

// varFileValues reads one -var-file: name = value attributes, in HCL or (for *.json) JSON.
func (d *decoder) varFileValues(decls map[string]*variableDecl, path string, given map[string]givenValue) hcl.Diagnostics {
	f, diags := d.loader.parseFile(path)
	if f == nil || diags.HasErrors() {
		return diags
	}
	attrs, aDiags := f.Body.JustAttributes()
	diags = append(diags, aDiags...)
	for _, name := range sortedKeys(attrs) {
		attr := attrs[name]
		if decls[name] == nil {
			diags = append(diags, undeclaredValue(attr.NameRange, name, "the variables file "+path, decls))
			continue
		}
		if decls[name].v.Sensitive {
			maskSource(f, attr.Expr.Range())
		}
		v, vDiags := attr.Expr.Value(nil)
		diags = append(diags, vDiags...)
		if !vDiags.HasErrors() {
			given[name] = givenValue{value: v, rng: attr.Expr.Range(), source: "-var-file " + path}
		}
	}
	return diags
}

// maskSource overwrites the bytes of rng in f's source (what diagnostics show of the file)
// with '*', line breaks kept: the value of a sensitive variable in a -var-file never appears
// in a snippet. (The expression was parsed already; its value is untouched.)
func maskSource(f *hcl.File, rng hcl.Range) {
	masked := append([]byte(nil), f.Bytes...)
	for i := rng.Start.Byte; i < rng.End.Byte && i < len(masked); i++ {
		if masked[i] != '\n' && masked[i] != '\r' {
			masked[i] = '*'
		}
	}
	f.Bytes = masked
}

// varOptionValue reads one -var name=value.
func (d *decoder) varOptionValue(decls map[string]*variableDecl, arg string, given map[string]givenValue) hcl.Diagnostics {
	name, raw, ok := strings.Cut(arg, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		rng := d.synthetic("<-var option>", arg, false)
		return hcl.Diagnostics{errorAt(rng, "Invalid -var option",
			"The option -var %q is not of the form name=value, like -var 'region=RegionOne'.", arg)}
	}
	decl := decls[name]
	if decl == nil {
		// The value is not shown: it may be a secret meant for a variable of another name.
		rng := d.synthetic(fmt.Sprintf("<value for var.%s>", name), raw, false)
		return hcl.Diagnostics{undeclaredValue(rng, name, "-var", decls)}
	}
	g, diags := d.parseGiven(decl, raw, "-var")
	if !diags.HasErrors() {
		given[name] = g
	}
	return diags
}

// parseGiven turns a raw value from -var or the environment into a value: the string itself
// for a string variable, else the value of it read as an HCL expression.
func (d *decoder) parseGiven(decl *variableDecl, raw, source string) (givenValue, hcl.Diagnostics) {
	filename := fmt.Sprintf("<value for var.%s>", decl.v.Name)
	rng := d.synthetic(filename, raw, !decl.v.Sensitive)
	if decl.literal {
		return givenValue{value: cty.StringVal(raw), rng: rng, source: source}, nil
	}
	if diag := checkNesting([]byte(raw), filename, false); diag != nil {
		return givenValue{}, hcl.Diagnostics{diag}
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), filename, hcl.InitialPos)
	if !diags.HasErrors() {
		diags = checkNumberLiterals(expr)
	}
	if !diags.HasErrors() {
		var vDiags hcl.Diagnostics
		v, vDiags := expr.Value(nil)
		if !vDiags.HasErrors() {
			return givenValue{value: v, rng: expr.Range(), source: source}, nil
		}
		diags = vDiags
	}
	// Say why the value was read as HCL: a bare word for a list or number variable is
	// otherwise a puzzling "Variables not allowed".
	for _, diag := range diags {
		if diag.Severity != hcl.DiagError {
			continue
		}
		diag.Detail = fmt.Sprintf("var.%s is of type %s, so the value given by %s is read as an HCL expression, like [\"10.0.0.0/8\"] or 42, and that failed: %s: %s",
			decl.v.Name, typeexpr.TypeString(decl.v.Type), source, strings.TrimSuffix(diag.Summary, "."), diag.Detail)
		diag.Summary = "Invalid value for variable"
		if diag.Subject == nil {
			diag.Subject = rng.Ptr()
		}
	}
	return givenValue{}, diags
}

// synthetic returns the whole range of src as a pseudo file named name; when show, it also
// registers src so that diagnostics show it.
func (d *decoder) synthetic(name, src string, show bool) hcl.Range {
	if show {
		d.loader.addSynthetic(name, []byte(src))
	}
	end := hcl.Pos{Line: 1, Column: 1 + len(src), Byte: len(src)}
	if strings.Contains(src, "\n") {
		end = hcl.Pos{Line: 1, Column: 1, Byte: 0}
	}
	return hcl.Range{Filename: name, Start: hcl.InitialPos, End: end}
}

func undeclaredValue(rng hcl.Range, name, source string, decls map[string]*variableDecl) *hcl.Diagnostic {
	detail := fmt.Sprintf("A value for %q was given by %s, but the configuration declares no variable of that name. To use it, add a variable %q block.", name, source, name)
	if s := didYouMean(name, sortedKeys(decls)); s != "" {
		detail += fmt.Sprintf(" Did you mean %s?", s)
	}
	return errorAt(rng, "Value for undeclared variable", "%s", detail)
}

// convertErr phrases a conversion error, with its path inside the value when it has one.
func convertErr(err error) string {
	if pe, ok := err.(cty.PathError); ok && len(pe.Path) > 0 {
		return fmt.Sprintf("%s: %s", formatPath(pe.Path), pe.Error())
	}
	return err.Error()
}

// formatPath renders a path inside a value as in an expression: [0].name.
func formatPath(path cty.Path) string {
	var b strings.Builder
	for _, step := range path {
		switch s := step.(type) {
		case cty.GetAttrStep:
			fmt.Fprintf(&b, ".%s", s.Name)
		case cty.IndexStep:
			fmt.Fprintf(&b, "[%s]", showValue(s.Key))
		}
	}
	return "at " + strings.TrimPrefix(b.String(), ".")
}
