package config

import (
	"fmt"
	"math/big"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// evalString evaluates expr as a string. A null or unknown value is "" without an error:
// null means unset, and unknown follows an error reported already.
func (d *decoder) evalString(expr hcl.Expression) (string, hcl.Diagnostics) {
	v, diags := d.eval(expr)
	if diags.HasErrors() {
		return "", diags
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", append(diags, errorAt(expr.Range(), "Incorrect value type", "A string is required here: %s.", err))
	}
	if s.IsNull() || !s.IsWhollyKnown() {
		return "", diags
	}
	return s.AsString(), diags
}

// evalBool evaluates expr as a bool; null is false.
func (d *decoder) evalBool(expr hcl.Expression) (bool, hcl.Diagnostics) {
	v, diags := d.eval(expr)
	if diags.HasErrors() {
		return false, diags
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil {
		return false, append(diags, errorAt(expr.Range(), "Incorrect value type", "A bool (true or false) is required here: %s.", err))
	}
	if b.IsNull() || !b.IsWhollyKnown() {
		return false, diags
	}
	return b.True(), diags
}

// wholeNumber returns v as an int when it is a whole number in [lo, hi].
func wholeNumber(v cty.Value, lo, hi int64) (int64, bool) {
	if v.Type() != cty.Number || v.IsNull() || !v.IsKnown() {
		return 0, false
	}
	f := v.AsBigFloat()
	if !f.IsInt() || f.Cmp(big.NewFloat(float64(lo))) < 0 || f.Cmp(big.NewFloat(float64(hi))) > 0 {
		return 0, false
	}
	n, _ := f.Int64()
	return n, true
}

// showValue renders a value for an error message, briefly.
func showValue(v cty.Value) string {
	if v.ContainsMarked() {
		return "(sensitive value)"
	}
	if v.IsNull() {
		return "null"
	}
	if !v.IsKnown() {
		return "(unknown)"
	}
	switch v.Type() {
	case cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case cty.Number:
		f := v.AsBigFloat()
		// Decimal digits of a huge exponent take long to compute.
		if exp := f.MantExp(nil); exp > 256 || exp < -256 {
			return fmt.Sprintf("a number of about 1e%d", int(float64(exp)*0.30103))
		}
		return f.Text('g', -1)
	case cty.Bool:
		return fmt.Sprint(v.True())
	}
	if v.IsWhollyKnown() && (v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType()) && v.LengthInt() <= 8 {
		return string(hclwrite.TokensForValue(v).Bytes())
	}
	return v.Type().FriendlyName()
}

func filepathBase(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Base(dir)
}
