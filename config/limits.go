package config

import (
	"bytes"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Bounds on what a configuration may make the loader do. A configuration is written by
// people, so each is far above any real one; hostile input (or a fuzzer) otherwise makes
// the loader overflow its stack, which no recover catches, or exhaust memory.
const (
	maxFileSize  = 4 << 20  // bytes of one file
	maxTotalSize = 16 << 20 // bytes of all the files of a configuration
	maxFiles     = 1000     // *.hcl files in a directory

	// maxNesting bounds brackets, braces, parentheses, blocks and templates inside each
	// other; maxExprDepth bounds the depth of the syntax tree that the parser builds of an
	// expression, counting chains of operators and of index and attribute steps, which
	// nest without brackets (!!!x, 1+1+1, a ? b : c ? d : e, x[i][j]).
	maxNesting   = 100
	maxExprDepth = 1000
	// maxTemplateSigns bounds the $ and % of one string: the parser takes time quadratic
	// in their number.
	maxTemplateSigns = 2000

	maxStringSize = 1 << 20 // bytes of one string value
	maxElements   = 10000   // elements of one collection, counted deep
	// maxEvalBudget bounds what the evaluation of a whole configuration may produce:
	// bytes of strings made by templates and functions, plus elements of collections
	// made by functions and iterated by for expressions.
	maxEvalBudget = 64 << 20

	maxDiagnostics = 100 // diagnostics reported; more are summed up in one
)

// checkNesting scans the source of a file for nesting deeper than maxNesting, or an
// expression deeper than maxExprDepth, before the parser, which recurses once per level,
// sees it. It knows just enough of the syntax to skip comments, strings and names:
// brackets in them do not count, interpolations in strings do. It errs on the side of
// counting too much. json files have no comments.
func checkNesting(src []byte, filename string, json bool) *hcl.Diagnostic {
	type frame struct {
		kind  byte // '(', '[', '{', '"' (a quoted string), '<' (a heredoc), '$' (an interpolation)
		chain int  // operators and steps so far of the expression open in this frame
		signs int  // $ and % so far in a string or heredoc
		eot   string
	}
	stack := []frame{{kind: '{'}} // the file's body
	i := 0
	tooDeep := func() *hcl.Diagnostic {
		line := 1 + bytes.Count(src[:i], []byte{'\n'})
		col := i - bytes.LastIndexByte(src[:i], '\n')
		pos := hcl.Pos{Line: line, Column: col, Byte: i}
		rng := hcl.Range{Filename: filename, Start: pos, End: pos}
		if top := stack[len(stack)-1]; top.signs > maxTemplateSigns {
			return errorAt(rng, "Template too long",
				"This string has more than %d interpolations, directives, $ and %% signs; no configuration needs that. Split it, or join a list of strings.", maxTemplateSigns)
		}
		if len(stack) > maxNesting {
			return errorAt(rng, "Too deeply nested",
				"Brackets, braces, blocks and templates are nested more than %d deep here; no configuration needs that. Flatten the structure.", maxNesting)
		}
		return errorAt(rng, "Expression too deeply nested",
			"The expression here nests more than %d operations (brackets, operators, index steps, conditionals) inside each other; split it, for example into local values.", maxExprDepth)
	}
	depthOK := func() bool {
		d := len(stack)
		for _, f := range stack {
			d += f.chain
		}
		return len(stack) <= maxNesting && d <= maxExprDepth
	}
	push := func(kind byte) bool {
		stack = append(stack, frame{kind: kind})
		return depthOK()
	}
	chain := func() bool {
		stack[len(stack)-1].chain++
		return depthOK()
	}
	pop := func() {
		if len(stack) > 1 {
			stack = stack[:len(stack)-1]
		}
	}
	// interpolation starts an interpolation or directive at i, in a string or heredoc.
	interpolation := func() (started, ok bool) {
		c := src[i]
		if c != '$' && c != '%' {
			return false, true
		}
		// The parser takes time quadratic in the number of these in one template.
		top := &stack[len(stack)-1]
		top.signs++
		if top.signs > maxTemplateSigns {
			return false, false
		}
		if i+1 >= len(src) || src[i+1] != '{' {
			return false, true
		}
		if i > 0 && src[i-1] == c { // $${ and %%{ are literal
			return false, true
		}
		i++
		return true, push('$')
	}
	lineStart := false
	for ; i < len(src); i++ {
		c := src[i]
		atLineStart := lineStart
		lineStart = c == '\n'
		top := &stack[len(stack)-1]
		switch top.kind {
		case '"':
			switch c {
			case '\\':
				i++
			case '"', '\n':
				pop()
			default:
				if _, ok := interpolation(); !ok {
					return tooDeep()
				}
			}
			continue
		case '<':
			if atLineStart {
				j := i
				for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
					j++
				}
				if end := j + len(top.eot); end <= len(src) && string(src[j:end]) == top.eot &&
					(end == len(src) || src[end] == '\n' || src[end] == '\r') {
					pop()
					i = end - 1
					continue
				}
			}
			if _, ok := interpolation(); !ok {
				return tooDeep()
			}
			continue
		}
		// Code: a body, brackets, or an interpolation.
		ok := true
		switch {
		case c == '#' && !json, c == '/' && !json && i+1 < len(src) && src[i+1] == '/':
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case c == '/' && !json && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return nil // unterminated: the parser says so
			}
			i += 2 + end + 1
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			for i+1 < len(src) && isIdentByte(src[i+1]) {
				i++
			}
		case c >= '0' && c <= '9':
			for i+1 < len(src) && (src[i+1] >= '0' && src[i+1] <= '9' || src[i+1] == '.') {
				i++
			}
		case c == '"':
			ok = push('"')
		case c == '<' && !json && i+2 < len(src) && src[i+1] == '<':
			j := i + 2
			if src[j] == '-' {
				j++
			}
			k := j
			for k < len(src) && isIdentByte(src[k]) {
				k++
			}
			if k == j {
				ok = chain()
				break
			}
			ok = push('<')
			stack[len(stack)-1].eot = string(src[j:k])
			i = k - 1
		case c == '(' || c == '[' || c == '{':
			if c != '{' || top.kind != '{' { // a block's body is no step of an expression
				ok = chain()
			}
			ok = ok && push(c)
		case c == ')' || c == ']' || c == '}':
			pop()
		case c == ',':
			top.chain = 0
		case c == '=':
			switch {
			case i+1 < len(src) && (src[i+1] == '=' || src[i+1] == '>'):
				i++
				ok = chain()
			case i > 0 && (src[i-1] == '!' || src[i-1] == '<' || src[i-1] == '>'):
				// the end of !=, <= or >=, counted at its start
			default:
				top.chain = 0 // an assignment: a new expression starts
			}
		case c == '\n':
			if top.kind == '{' {
				top.chain = 0
			}
		case strings.IndexByte("!-+*/%&|<>?.", c) >= 0:
			ok = chain()
		}
		if !ok {
			return tooDeep()
		}
	}
	return nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// size is the size of a value, deep: bytes of its strings (and attribute names), and the
// number of its elements and attributes.
type size struct {
	bytes, elems int
	ok           bool // within the bounds of one value
}

// cost is what making a value of this size takes of the budget.
func (s size) cost() int { return s.bytes + s.elems*elementWeight }

// sizeOf measures v, and whether it is within the bounds of one value: strings of at most
// maxStringSize bytes in all, at most maxElements elements. It stops counting past the
// bounds, so that a value built of shared parts ([a, a] of [b, b] of ...) is measured in
// bounded time. A number too large to write is out of bounds too.
func sizeOf(v cty.Value) size {
	var s size
	var walk func(v cty.Value) bool
	walk = func(v cty.Value) bool {
		v, _ = v.Unmark()
		if v.IsNull() || !v.IsKnown() {
			return true
		}
		ty := v.Type()
		switch {
		case ty == cty.String:
			s.bytes += len(v.AsString())
			return s.bytes <= maxStringSize
		case ty == cty.Number:
			return numberInRange(v)
		case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				s.elems++
				if s.elems > maxElements {
					return false
				}
				k, e := it.Element()
				if ty.IsMapType() || ty.IsObjectType() {
					s.bytes += len(k.AsString())
				}
				if !walk(e) {
					return false
				}
			}
		}
		return true
	}
	s.ok = walk(v)
	return s
}

// numberInRange says whether a number's binary exponent is within maxNumberExponent:
// beyond it, its decimal digits take minutes to compute.
func numberInRange(v cty.Value) bool {
	exp := v.AsBigFloat().MantExp(nil)
	return -maxNumberExponent <= exp && exp <= maxNumberExponent
}

// budget counts what the evaluation of one configuration produces, against maxEvalBudget.
type budget struct{ used int }

// spend charges n to b; false once the budget is exhausted.
func (b *budget) spend(n int) bool {
	b.used += n
	return b.used <= maxEvalBudget
}

// errTooLarge is the error of a value past the bounds.
type errTooLarge struct{ what string }

func (e errTooLarge) Error() string {
	return e.what + ": no configuration needs that much; a string holds at most 1 MiB, a collection at most 10000 elements, and a configuration's expressions may make at most 64 MiB in all"
}
