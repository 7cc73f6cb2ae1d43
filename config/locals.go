package config

import (
	"fmt"
	"maps"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// decodeLocals gathers the attributes of every locals block, reports duplicates and
// reference cycles, and evaluates each local after the locals it refers to.
func (d *decoder) decodeLocals() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range d.blocks["locals"] {
		attrs, aDiags := b.Body.JustAttributes()
		diags = append(diags, aDiags...)
		for _, name := range sortedAttrs(attrs) {
			attr := attrs[name]
			if prev := d.localDefs[name]; prev != nil {
				diags = append(diags, errorAt(attr.NameRange, "Duplicate local value",
					"A local value named %q was already defined at %s. Local value names must be unique in a configuration.", name, at(prev.NameRange)))
				continue
			}
			d.localDefs[name] = attr
		}
	}

	deps := map[string][]string{}
	whole := map[string]bool{} // locals that refer to local as a whole, or by a computed name
	for name, attr := range d.localDefs {
		seen := map[string]bool{}
		for _, t := range attr.Expr.Variables() {
			if t.RootName() != "local" {
				continue
			}
			dep := traversalName(t)
			if dep == "" {
				whole[name] = true
				continue
			}
			if d.localDefs[dep] == nil || seen[dep] {
				continue
			}
			seen[dep] = true
			deps[name] = append(deps[name], dep)
		}
	}

	// Depth-first, in name order: a local is evaluated after everything it refers to. A
	// local on a cycle, or one that refers to a failed local, is unknown.
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	failed := map[string]bool{}
	base := d.evalContext()
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = visiting
		stack = append(stack, name)
		for _, dep := range deps[name] {
			switch state[dep] {
			case unvisited:
				visit(dep)
			case visiting:
				cycle := stack[indexOf(stack, dep):]
				diags = append(diags, d.cycleDiagnostic(cycle))
				for _, n := range cycle {
					failed[n] = true
				}
			}
			if failed[dep] {
				failed[name] = true
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		if failed[name] {
			d.locals[name] = cty.DynamicVal
			return
		}
		// The context holds the locals this one refers to, not all of them: building an
		// object of every local for every local takes time quadratic in their number.
		locals := d.locals
		if !whole[name] {
			locals = map[string]cty.Value{}
			for _, dep := range deps[name] {
				locals[dep] = d.locals[dep]
			}
		}
		ctx := &hcl.EvalContext{Variables: maps.Clone(base.Variables), Functions: base.Functions}
		ctx.Variables["local"] = cty.ObjectVal(locals)
		v, vDiags := d.evalIn(ctx, d.localDefs[name].Expr)
		diags = append(diags, vDiags...)
		d.locals[name] = v
	}
	for _, name := range sortedKeys(d.localDefs) {
		if state[name] == unvisited {
			visit(name)
		}
	}
	return diags
}

// cycleDiagnostic reports the locals of cycle, each referring to the next and the last to
// the first, at the first one.
func (d *decoder) cycleDiagnostic(cycle []string) *hcl.Diagnostic {
	names := make([]string, 0, len(cycle)+1)
	var where []string
	for _, n := range cycle {
		names = append(names, "local."+n)
		where = append(where, fmt.Sprintf("local.%s at %s", n, at(d.localDefs[n].NameRange)))
	}
	names = append(names, "local."+cycle[0])
	first := d.localDefs[cycle[0]]
	return errorAt(first.Range, "Cycle in local values: "+strings.Join(names, " → "),
		"Each of these local values refers to the next, and the last to the first, so none can be evaluated: %s. Break the cycle.", strings.Join(where, ", "))
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// sortedAttrs returns the names of attrs in source order.
func sortedAttrs(attrs hcl.Attributes) []string {
	names := sortedKeys(attrs)
	sortByPos(names, func(n string) hcl.Pos { return attrs[n].NameRange.Start })
	return names
}
