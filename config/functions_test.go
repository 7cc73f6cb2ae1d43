package config

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func TestFunctions(t *testing.T) {
	tests := []struct {
		expr string
		want cty.Value
		err  bool
	}{
		{`cidrsubnet("10.20.0.0/16", 4, 1)`, cty.StringVal("10.20.16.0/20"), false},
		{`cidrsubnet("10.20.0.0/16", 8, 255)`, cty.StringVal("10.20.255.0/24"), false},
		{`cidrsubnet("2001:db8::/32", 16, 3)`, cty.StringVal("2001:db8:3::/48"), false},
		{`cidrsubnet("2001:db8::/32", 96, 1)`, cty.StringVal("2001:db8::1/128"), false},
		{`cidrsubnet("10.20.0.0/16", 8, 256)`, cty.NilVal, true},
		{`cidrsubnet("10.20.0.0/16", 17, 0)`, cty.NilVal, true},
		{`cidrsubnet("10.20.0.0/16", -1, 0)`, cty.NilVal, true},
		{`cidrsubnet("10.20.0.0/16", 4, -1)`, cty.NilVal, true},
		{`cidrsubnet("nonsense", 4, 1)`, cty.NilVal, true},
		{`cidrhost("10.20.0.0/16", 5)`, cty.StringVal("10.20.0.5"), false},
		{`cidrhost("10.20.0.0/16", -2)`, cty.StringVal("10.20.255.254"), false},
		{`cidrhost("2001:db8::/64", 16)`, cty.StringVal("2001:db8::10"), false},
		{`cidrhost("10.20.0.0/30", 4)`, cty.NilVal, true},
		{`cidrhost("10.20.0.0/30", 1.5)`, cty.NilVal, true},
		{`cidrnetmask("10.20.0.0/12")`, cty.StringVal("255.240.0.0"), false},
		{`cidrnetmask("2001:db8::/32")`, cty.NilVal, true},
		{`replace("a-b-c", "-", "_")`, cty.StringVal("a_b_c"), false},
		{`replace("a1b22c", "/[0-9]+/", "")`, cty.StringVal("abc"), false},
		{`format("%05d", 42)`, cty.StringVal("00042"), false},
		{`format("%.1001f", 1)`, cty.NilVal, true},
		{`join(",", formatlist("zone-%s", ["a", "b"]))`, cty.StringVal("zone-a,zone-b"), false},
		{`length(flatten([["a"], ["b", "c"]]))`, cty.NumberIntVal(3), false},
		{`lookup({a = 1}, "b", 2)`, cty.NumberIntVal(2), false},
		{`contains(toset(["a"]), "a")`, cty.True, false},
		{`coalesce("", "x")`, cty.StringVal("x"), false},
		{`upper(trimspace("  dmz "))`, cty.StringVal("DMZ"), false},
	}
	ctx := &hcl.EvalContext{Functions: functions(&budget{})}
	for _, tt := range tests {
		expr, diags := hclsyntax.ParseExpression([]byte(tt.expr), "test", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", tt.expr, diags)
		}
		got, diags := expr.Value(ctx)
		if tt.err {
			if !diags.HasErrors() {
				t.Errorf("%s = %#v, want an error", tt.expr, got)
			}
			continue
		}
		if diags.HasErrors() {
			t.Errorf("%s: %s", tt.expr, diags)
			continue
		}
		if !got.RawEquals(tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.expr, got, tt.want)
		}
	}
}
