package config

import (
	"fmt"
	"math/big"
	"net"
	"strings"

	"github.com/apparentlymart/go-cidr/cidr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions are the functions expressions may call: the familiar subset of Terraform's,
// each bounded (boundedFunc) and charged to b; and the internal ones of bound.
func functions(b *budget) map[string]function.Function {
	pre := map[string]func([]cty.Value) error{
		"range":      rangeCount,
		"join":       joinSize,
		"format":     formatSize(false),
		"formatlist": formatSize(true),
		"split":      splitCount,
		"distinct":   distinctCount,
		"replace":    replaceSize,
	}
	fs := userFunctions()
	for name, f := range fs {
		fs[name] = boundedFunc(b, f, pre[name])
	}
	for name, f := range internalFunctions(b) {
		fs[name] = f
	}
	return fs
}

func userFunctions() map[string]function.Function {
	return map[string]function.Function{
		"cidrhost":    cidrHostFunc,
		"cidrnetmask": cidrNetmaskFunc,
		"cidrsubnet":  cidrSubnetFunc,
		"coalesce":    coalesceFunc,
		"concat":      stdlib.ConcatFunc,
		"contains":    stdlib.ContainsFunc,
		"distinct":    stdlib.DistinctFunc,
		"flatten":     stdlib.FlattenFunc,
		"format":      boundedFormat(stdlib.FormatFunc),
		"formatlist":  boundedFormat(stdlib.FormatListFunc),
		"join":        stdlib.JoinFunc,
		"keys":        stdlib.KeysFunc,
		"length":      stdlib.LengthFunc,
		"lookup":      stdlib.LookupFunc,
		"lower":       stdlib.LowerFunc,
		"max":         stdlib.MaxFunc,
		"merge":       stdlib.MergeFunc,
		"min":         stdlib.MinFunc,
		"range":       stdlib.RangeFunc,
		"replace":     replaceFunc,
		"split":       stdlib.SplitFunc,
		"tolist":      stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset":       stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"trimspace":   stdlib.TrimSpaceFunc,
		"upper":       stdlib.UpperFunc,
		"values":      stdlib.ValuesFunc,
	}
}

// coalesceFunc is Terraform's coalesce: the first argument that is neither null nor an
// empty string.
var coalesceFunc = function.New(&function.Spec{
	VarParam: &function.Parameter{
		Name:             "vals",
		Type:             cty.DynamicPseudoType,
		AllowUnknown:     true,
		AllowDynamicType: true,
		AllowNull:        true,
	},
	Type: func(args []cty.Value) (cty.Type, error) {
		return stdlib.CoalesceFunc.ReturnTypeForValues(args)
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		for _, arg := range args {
			v, err := convert.Convert(arg, retType)
			if err != nil {
				return cty.UnknownVal(retType), err
			}
			if !v.IsKnown() {
				return cty.UnknownVal(retType), nil
			}
			if v.IsNull() || (retType == cty.String && v.AsString() == "") {
				continue
			}
			return v, nil
		}
		return cty.NilVal, fmt.Errorf("no argument is neither null nor an empty string")
	},
})

// replaceFunc is Terraform's replace: a substring, or a regular expression when written
// between slashes ("/[0-9]+/").
var replaceFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "substr", Type: cty.String},
		{Name: "replace", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		substr := args[1].AsString()
		if len(substr) > 1 && strings.HasPrefix(substr, "/") && strings.HasSuffix(substr, "/") {
			re := cty.StringVal(substr[1 : len(substr)-1])
			return stdlib.RegexReplace(args[0], re, args[2])
		}
		return stdlib.Replace(args[0], args[1], args[2])
	},
})

// cidrSubnetFunc is cidrsubnet(prefix, newbits, netnum): the netnum-th subnet of prefix
// with newbits more bits of prefix length.
var cidrSubnetFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "prefix", Type: cty.String},
		{Name: "newbits", Type: cty.Number},
		{Name: "netnum", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		network, err := parseNetwork(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		prefixLen, addrLen := network.Mask.Size()
		newbits, ok := wholeNumber(args[1], 0, int64(addrLen-prefixLen))
		if !ok {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(1,
				"%s plus %s new bits does not fit in %d bits", args[0].AsString(), showValue(args[1]), addrLen)
		}
		netnum, err := bigInt(args[2])
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(2, err)
		}
		limit := new(big.Int).Lsh(big.NewInt(1), uint(newbits))
		if netnum.Sign() < 0 || netnum.Cmp(limit) >= 0 {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(2,
				"%d new bits make %s subnets, numbered 0 to %s; %s is not one", newbits, limit, new(big.Int).Sub(limit, big.NewInt(1)), netnum)
		}
		sub, err := cidr.SubnetBig(network, int(newbits), netnum)
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		return cty.StringVal(sub.String()), nil
	},
})

// cidrHostFunc is cidrhost(prefix, hostnum): the hostnum-th address of prefix; a negative
// hostnum counts from the end.
var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "prefix", Type: cty.String},
		{Name: "hostnum", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		network, err := parseNetwork(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		hostnum, err := bigInt(args[1])
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		ip, err := cidr.HostBig(network, hostnum)
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		return cty.StringVal(ip.String()), nil
	},
})

// cidrNetmaskFunc is cidrnetmask(prefix): the IPv4 netmask of prefix, like 255.255.0.0.
var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		network, err := parseNetwork(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		if network.IP.To4() == nil {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "IPv6 prefixes have no netmask")
		}
		return cty.StringVal(net.IP(network.Mask).String()), nil
	},
})

func parseNetwork(s string) (*net.IPNet, error) {
	_, network, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a CIDR prefix, like 10.0.0.0/16", s)
	}
	return network, nil
}

// bigInt returns a whole number as a big.Int.
func bigInt(v cty.Value) (*big.Int, error) {
	f := v.AsBigFloat()
	if !f.IsInt() {
		return nil, fmt.Errorf("%s is not a whole number", showValue(v))
	}
	if f.MantExp(nil) > 129 {
		return nil, fmt.Errorf("%s is too large", showValue(v))
	}
	n, _ := f.Int(nil)
	return n, nil
}

// maxFormatWidth bounds the width and precision of format verbs: "%999999999d" would
// otherwise build a gigabyte string.
const maxFormatWidth = 1000

// boundedFormat wraps format or formatlist so that a verb's width or precision above
// maxFormatWidth is an error.
func boundedFormat(f function.Function) function.Function {
	return function.New(&function.Spec{
		Params:   f.Params(),
		VarParam: f.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
			if args[0].IsKnown() && !args[0].IsNull() {
				if err := checkFormatWidths(args[0].AsString()); err != nil {
					return cty.UnknownVal(retType), function.NewArgError(0, err)
				}
			}
			return f.Call(args)
		},
	})
}

// checkFormatWidths reports a verb of spec with a width or precision above maxFormatWidth.
func checkFormatWidths(spec string) error {
	for i := 0; i < len(spec); i++ {
		if spec[i] != '%' {
			continue
		}
		i++
		for i < len(spec) && strings.ContainsRune("-+# 0[]123456789.*", rune(spec[i])) {
			start := i
			for i < len(spec) && spec[i] >= '0' && spec[i] <= '9' {
				i++
			}
			if i > start {
				if len(spec[start:i]) > 4 || atoi(spec[start:i]) > maxFormatWidth {
					return fmt.Errorf("a width or precision of %s is more than %d", spec[start:i], maxFormatWidth)
				}
				continue
			}
			i++
		}
	}
	return nil
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
