package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// What HCL evaluates without calling a function (string templates, for expressions,
// arithmetic) cannot be bounded from outside; so bound rewrites an expression before it is
// evaluated: templates become calls of templateFunc, the collection of a for expression a
// call of forCollFunc, and the operations of arithmetic checked versions. A user cannot
// name these functions (their names have spaces). Each charges the evaluation's budget.
const (
	templateFuncName     = "string template"
	templateJoinFuncName = "string template loop"
	forCollFuncName      = "for expression"
)

// bound rewrites expr in place, as said above, and returns the expression to evaluate:
// expr, or a call that replaces expr itself when it is a template. Rewriting again changes
// nothing.
func bound(expr hcl.Expression, ops map[*hclsyntax.Operation]*hclsyntax.Operation) hcl.Expression {
	e, ok := expr.(hclsyntax.Expression)
	if !ok {
		return expr // JSON: its templates refer to no values that could grow
	}
	var rewrite func(e hclsyntax.Expression) hclsyntax.Expression
	each := func(es []hclsyntax.Expression) {
		for i := range es {
			es[i] = rewrite(es[i])
		}
	}
	rewrite = func(e hclsyntax.Expression) hclsyntax.Expression {
		switch n := e.(type) {
		case *hclsyntax.TemplateExpr:
			each(n.Parts)
			if !n.IsStringLiteral() {
				return &hclsyntax.FunctionCallExpr{Name: templateFuncName, Args: n.Parts,
					NameRange: n.SrcRange, OpenParenRange: n.SrcRange, CloseParenRange: n.SrcRange}
			}
		case *hclsyntax.TemplateJoinExpr:
			n.Tuple = rewrite(n.Tuple)
			return &hclsyntax.FunctionCallExpr{Name: templateJoinFuncName, Args: []hclsyntax.Expression{n.Tuple},
				NameRange: n.Range(), OpenParenRange: n.Range(), CloseParenRange: n.Range()}
		case *hclsyntax.TemplateWrapExpr:
			n.Wrapped = rewrite(n.Wrapped)
		case *hclsyntax.ForExpr:
			if call, ok := n.CollExpr.(*hclsyntax.FunctionCallExpr); !ok || call.Name != forCollFuncName {
				n.CollExpr = &hclsyntax.FunctionCallExpr{Name: forCollFuncName, Args: []hclsyntax.Expression{rewrite(n.CollExpr)},
					NameRange: n.CollExpr.Range(), OpenParenRange: n.CollExpr.Range(), CloseParenRange: n.CollExpr.Range()}
			} else {
				each(call.Args)
			}
			if n.KeyExpr != nil {
				n.KeyExpr = rewrite(n.KeyExpr)
			}
			n.ValExpr = rewrite(n.ValExpr)
			if n.CondExpr != nil {
				n.CondExpr = rewrite(n.CondExpr)
			}
		case *hclsyntax.BinaryOpExpr:
			if op := ops[n.Op]; op != nil {
				n.Op = op
			}
			n.LHS, n.RHS = rewrite(n.LHS), rewrite(n.RHS)
		case *hclsyntax.UnaryOpExpr:
			if op := ops[n.Op]; op != nil {
				n.Op = op
			}
			n.Val = rewrite(n.Val)
		case *hclsyntax.FunctionCallExpr:
			each(n.Args)
		case *hclsyntax.ConditionalExpr:
			n.Condition, n.TrueResult, n.FalseResult = rewrite(n.Condition), rewrite(n.TrueResult), rewrite(n.FalseResult)
		case *hclsyntax.IndexExpr:
			n.Collection, n.Key = rewrite(n.Collection), rewrite(n.Key)
		case *hclsyntax.RelativeTraversalExpr:
			n.Source = rewrite(n.Source)
		case *hclsyntax.SplatExpr:
			n.Source, n.Each = rewrite(n.Source), rewrite(n.Each)
		case *hclsyntax.TupleConsExpr:
			each(n.Exprs)
		case *hclsyntax.ObjectConsExpr:
			for i := range n.Items {
				n.Items[i].KeyExpr = rewrite(n.Items[i].KeyExpr)
				n.Items[i].ValueExpr = rewrite(n.Items[i].ValueExpr)
			}
		case *hclsyntax.ObjectConsKeyExpr:
			n.Wrapped = rewrite(n.Wrapped)
		case *hclsyntax.ParenthesesExpr:
			n.Expression = rewrite(n.Expression)
		}
		return e
	}
	return rewrite(e)
}

// boundedOps are the arithmetic operations with their results checked: multiplying
// numbers again and again makes one whose digits take minutes to write.
func boundedOps() map[*hclsyntax.Operation]*hclsyntax.Operation {
	ops := map[*hclsyntax.Operation]*hclsyntax.Operation{}
	for _, op := range []*hclsyntax.Operation{hclsyntax.OpAdd, hclsyntax.OpSubtract, hclsyntax.OpMultiply,
		hclsyntax.OpDivide, hclsyntax.OpModulo, hclsyntax.OpNegate} {
		impl := op.Impl
		ops[op] = &hclsyntax.Operation{Type: op.Type, Impl: function.New(&function.Spec{
			Params:   impl.Params(),
			VarParam: impl.VarParam(),
			Type:     func(args []cty.Value) (cty.Type, error) { return impl.ReturnTypeForValues(args) },
			Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
				v, err := impl.Call(args)
				if err == nil && v.IsKnown() && !v.IsNull() && v.Type() == cty.Number && !numberInRange(v) {
					return cty.UnknownVal(retType), errTooLarge{"the result is a number too large or too small to be of any use"}
				}
				return v, err
			},
		})}
	}
	return ops
}

// internalFunctions are the functions that bound calls.
func internalFunctions(b *budget) map[string]function.Function {
	return map[string]function.Function{
		templateFuncName: function.New(&function.Spec{
			VarParam: &function.Parameter{Name: "template part", Type: cty.DynamicPseudoType, AllowNull: true, AllowDynamicType: true},
			Type:     function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return concatParts(b, args, func(i int, err error) error { return function.NewArgError(i, err) })
			},
		}),
		templateJoinFuncName: function.New(&function.Spec{
			Params: []function.Parameter{{Name: "loop", Type: cty.DynamicPseudoType, AllowDynamicType: true}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				if !args[0].CanIterateElements() {
					return cty.UnknownVal(cty.String), nil
				}
				var parts []cty.Value
				for it := args[0].ElementIterator(); it.Next(); {
					_, v := it.Element()
					if v.IsNull() {
						return cty.UnknownVal(cty.String), errors.New("an iteration result is null; cannot include a null value in a string template")
					}
					parts = append(parts, v)
				}
				return concatParts(b, parts, func(_ int, err error) error { return err })
			},
		}),
		forCollFuncName: function.New(&function.Spec{
			Params: []function.Parameter{{Name: "collection", Type: cty.DynamicPseudoType, AllowNull: true, AllowDynamicType: true}},
			Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				v := args[0]
				if v.IsNull() || !v.CanIterateElements() {
					return v, nil // the for expression says what is wrong
				}
				n := v.LengthInt()
				if n > maxElements {
					return cty.UnknownVal(v.Type()), errTooLarge{fmt.Sprintf("a for expression over %d elements", n)}
				}
				if !b.spend(n * iterationWeight) {
					return cty.UnknownVal(v.Type()), errTooLarge{"the for expressions iterate over too many elements"}
				}
				return v, nil
			},
		}),
	}
}

// elementWeight is what an element of a collection costs of the budget, in bytes: about
// what a cty value takes in memory; iterationWeight what one iteration of a for expression
// costs (a new scope, the value).
const (
	elementWeight   = 64
	iterationWeight = 1024
)

// concatParts is the string of the parts of a template, checked for size before it is
// built. argErr wraps the error of the i-th part.
func concatParts(b *budget, parts []cty.Value, argErr func(int, error) error) (cty.Value, error) {
	strs := make([]string, len(parts))
	total := 0
	for i, p := range parts {
		if p.IsNull() {
			return cty.UnknownVal(cty.String), argErr(i, errors.New("the expression result is null; cannot include a null value in a string template"))
		}
		if p.Type() == cty.Number && !numberInRange(p) {
			return cty.UnknownVal(cty.String), errTooLarge{"a number in the template is too large or too small to be written"}
		}
		if !sizeOf(p).ok {
			return cty.UnknownVal(cty.String), errTooLarge{"a value in the template is too large"}
		}
		s, err := convert.Convert(p, cty.String)
		if err != nil {
			return cty.UnknownVal(cty.String), argErr(i, fmt.Errorf("cannot include the given value in a string template: %w", err))
		}
		if !s.IsKnown() {
			return cty.UnknownVal(cty.String), nil
		}
		strs[i] = s.AsString()
		total += len(strs[i])
		if total > maxStringSize {
			return cty.UnknownVal(cty.String), errTooLarge{fmt.Sprintf("the template makes a string of more than %d bytes", maxStringSize)}
		}
	}
	if !b.spend(total) {
		return cty.UnknownVal(cty.String), errTooLarge{"the templates make too much text in all"}
	}
	return cty.StringVal(strings.Join(strs, "")), nil
}

// boundedFunc wraps a function so that its arguments are checked before the call (in all,
// at most the bounds of one value, and what pre, when set, estimates the result to be)
// and its result after, both charged to the budget.
//
// An argument made of a sensitive value makes the result sensitive, and an error of the
// call says nothing more than that it failed: function errors quote their arguments.
func boundedFunc(b *budget, f function.Function, pre func(args []cty.Value) error) function.Function {
	params := f.Params()
	for i := range params {
		params[i].AllowMarked = true
	}
	varParam := f.VarParam()
	if varParam != nil {
		vp := *varParam
		vp.AllowMarked = true
		varParam = &vp
	}
	call := bounded(b, f, pre)
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type: func(args []cty.Value) (cty.Type, error) {
			unmarked, _ := unmarkAll(args)
			return f.ReturnTypeForValues(unmarked)
		},
		Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
			unmarked, marks := unmarkAll(args)
			v, err := call(unmarked, retType)
			if len(marks) == 0 {
				return v, err
			}
			if err != nil {
				var large errTooLarge
				if errors.As(err, &large) {
					return cty.UnknownVal(retType), err
				}
				return cty.UnknownVal(retType), errors.New("the call failed with a sensitive argument; its message is not shown, as it could include the value")
			}
			return v.WithMarks(marks...), nil
		},
	})
}

// unmarkAll returns args without their marks, deep, and the marks.
func unmarkAll(args []cty.Value) ([]cty.Value, []cty.ValueMarks) {
	out := make([]cty.Value, len(args))
	var marks []cty.ValueMarks
	for i, a := range args {
		v, pvm := a.UnmarkDeepWithPaths()
		out[i] = v
		for _, pm := range pvm {
			marks = append(marks, pm.Marks)
		}
	}
	return out, marks
}

// bounded is the call of f checked as boundedFunc says.
func bounded(b *budget, f function.Function, pre func(args []cty.Value) error) func([]cty.Value, cty.Type) (cty.Value, error) {
	return func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		var in size
		for _, a := range args {
			n := sizeOf(a)
			in.bytes += n.bytes
			in.elems += n.elems
			if !n.ok || in.bytes > maxStringSize || in.elems > maxElements {
				return cty.UnknownVal(retType), errTooLarge{"the arguments are too large"}
			}
		}
		if !b.spend(in.cost()) {
			return cty.UnknownVal(retType), errTooLarge{"the functions of the configuration make too much in all"}
		}
		if pre != nil {
			if err := pre(args); err != nil {
				return cty.UnknownVal(retType), err
			}
		}
		v, err := f.Call(args)
		if err != nil {
			return v, err
		}
		out := sizeOf(v)
		if !out.ok {
			return cty.UnknownVal(retType), errTooLarge{"the result is too large"}
		}
		if !b.spend(out.cost()) {
			return cty.UnknownVal(retType), errTooLarge{"the functions of the configuration make too much in all"}
		}
		return v, nil
	}
}

// Estimates of results, for the functions whose result can be much larger than their
// arguments.

func rangeCount(args []cty.Value) error {
	nums := make([]float64, len(args))
	for i, a := range args {
		if !a.IsKnown() || a.IsNull() || a.Type() != cty.Number {
			return nil // range itself says what is wrong
		}
		nums[i], _ = a.AsBigFloat().Float64()
	}
	start, limit, step := 0.0, 0.0, 1.0
	switch len(nums) {
	case 1:
		limit = nums[0]
	case 2:
		start, limit = nums[0], nums[1]
	case 3:
		start, limit, step = nums[0], nums[1], nums[2]
	default:
		return nil
	}
	if step == 0 {
		return nil
	}
	if n := (limit - start) / step; n > maxElements {
		return errTooLarge{fmt.Sprintf("range would make about %.0f numbers", n)}
	}
	return nil
}

func joinSize(args []cty.Value) error {
	if len(args) == 0 || !args[0].IsKnown() || args[0].IsNull() || args[0].Type() != cty.String {
		return nil
	}
	sep := len(args[0].AsString())
	total := 0
	for _, l := range args[1:] {
		if !l.IsKnown() || l.IsNull() || !l.CanIterateElements() {
			continue
		}
		total += sizeOf(l).bytes + l.LengthInt()*sep
	}
	if total > maxStringSize {
		return errTooLarge{"join would make a string of more than 1 MiB"}
	}
	return nil
}

// formatSize estimates format and formatlist: the spec, at most maxFormatWidth per verb,
// and each argument as often as the spec may use it; formatlist repeats it all per element.
func formatSize(list bool) func(args []cty.Value) error {
	return func(args []cty.Value) error {
		if len(args) == 0 || !args[0].IsKnown() || args[0].IsNull() || args[0].Type() != cty.String {
			return nil
		}
		spec := args[0].AsString()
		verbs := strings.Count(spec, "%")
		uses := 1
		if strings.Contains(spec, "[") {
			uses = verbs // %[1]s may use one argument many times
		}
		n, argBytes := 1, 0
		for _, a := range args[1:] {
			argBytes += 2 * (sizeOf(a).bytes + 24*sizeOf(a).elems) * uses // %q may double a string; a number takes up to 24
			if list && a.IsKnown() && !a.IsNull() && (a.Type().IsListType() || a.Type().IsTupleType()) {
				n = max(n, a.LengthInt())
			}
		}
		if n > maxElements {
			return errTooLarge{fmt.Sprintf("formatlist would make %d strings", n)}
		}
		if total := n*(len(spec)+verbs*maxFormatWidth) + argBytes*max(1, uses); total > maxStringSize {
			return errTooLarge{"the formatted text would be more than 1 MiB"}
		}
		return nil
	}
}

func splitCount(args []cty.Value) error {
	if len(args) < 2 || !args[0].IsKnown() || !args[1].IsKnown() || args[0].IsNull() || args[1].IsNull() ||
		args[0].Type() != cty.String || args[1].Type() != cty.String {
		return nil
	}
	sep, s := args[0].AsString(), args[1].AsString()
	n := len(s) + 1
	if sep != "" {
		n = strings.Count(s, sep) + 1
	}
	if n > maxElements {
		return errTooLarge{fmt.Sprintf("split would make %d strings", n)}
	}
	return nil
}

// distinctCount bounds distinct, which compares each element with every other.
func distinctCount(args []cty.Value) error {
	if len(args) == 1 && args[0].IsKnown() && !args[0].IsNull() && args[0].CanIterateElements() {
		if n := args[0].LengthInt(); n > 2000 {
			return errTooLarge{fmt.Sprintf("distinct of %d elements (at most 2000)", n)}
		}
	}
	return nil
}

// replaceSize checks the result of replace before it is built: matches times the
// replacement, each expanded ($1) for a regular expression.
func replaceSize(args []cty.Value) error {
	for _, a := range args[:3] {
		if !a.IsKnown() || a.IsNull() || a.Type() != cty.String {
			return nil
		}
	}
	str, substr, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
	tooLarge := errTooLarge{"replace would make a string of more than 1 MiB"}
	if len(substr) > 1 && strings.HasPrefix(substr, "/") && strings.HasSuffix(substr, "/") {
		re, err := regexp.Compile(substr[1 : len(substr)-1])
		if err != nil {
			return nil // replace says so
		}
		total := len(str)
		var dst []byte
		for _, m := range re.FindAllStringSubmatchIndex(str, -1) {
			dst = re.ExpandString(dst[:0], repl, str, m)
			if total += len(dst); total > maxStringSize {
				return tooLarge
			}
		}
		return nil
	}
	n := len(str) + 1
	if substr != "" {
		n = strings.Count(str, substr)
	}
	if len(str)+n*len(repl) > maxStringSize {
		return tooLarge
	}
	return nil
}
