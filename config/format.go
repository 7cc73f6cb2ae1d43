package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical HCL style (hclwrite.Format) and whether that differs
// from src. It does not check the syntax: FormatFiles does.
func Format(src []byte) ([]byte, bool) {
	out := hclwrite.Format(src)
	return out, !bytes.Equal(out, src)
}

// FormatOptions are the flags of `hardenctl fmt`, as in terraform fmt.
type FormatOptions struct {
	Check bool // do not rewrite files; only report which are not canonical
	Diff  bool // write a unified diff of each change to the output
	List  bool // write the name of each file that is not canonical to the output
}

// FormatFiles formats every *.hcl file of a directory, or one file: it returns the names of
// the files that were not in canonical style and, unless opts.Check, rewrites them. A file
// with a syntax error is left alone and reported as a diagnostic.
func (l *Loader) FormatFiles(path string, opts FormatOptions, out io.Writer) ([]string, hcl.Diagnostics) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{errorAt(hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
			"Failed to read configuration", "Cannot read %s: %s.", path, ioReason(err))}
	}
	names := []string{path}
	if info.IsDir() {
		if names, err = hclFiles(path); err != nil {
			return nil, hcl.Diagnostics{errorAt(hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
				"Failed to read configuration directory", "Cannot list %s: %s.", path, ioReason(err))}
		}
	}
	var changed []string
	var diags hcl.Diagnostics
	for _, name := range names {
		was, fDiags := l.formatFile(name, opts, out)
		diags = append(diags, fDiags...)
		if was {
			changed = append(changed, name)
		}
	}
	return changed, diags
}

func (l *Loader) formatFile(name string, opts FormatOptions, out io.Writer) (bool, hcl.Diagnostics) {
	subject := hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}
	src, diag := readSource(name, maxFileSize)
	if diag != nil {
		return false, hcl.Diagnostics{diag}
	}
	if diag := checkNesting(src, name, false); diag != nil {
		l.parser.AddFile(name, &hcl.File{Body: hcl.EmptyBody(), Bytes: src})
		return false, hcl.Diagnostics{diag}
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	l.parser.AddFile(name, f)
	if diags.HasErrors() {
		return false, diags
	}
	formatted, changed := Format(src)
	if !changed {
		return false, nil
	}
	if opts.List {
		if _, err := fmt.Fprintln(out, name); err != nil {
			return true, hcl.Diagnostics{errorAt(subject, "Failed to write output", "%s.", err)}
		}
	}
	if opts.Diff {
		if _, err := io.WriteString(out, unifiedDiff(name, string(src), string(formatted))); err != nil {
			return true, hcl.Diagnostics{errorAt(subject, "Failed to write output", "%s.", err)}
		}
	}
	if !opts.Check {
		info, err := os.Stat(name)
		if err != nil {
			return true, hcl.Diagnostics{errorAt(subject, "Failed to write file", "Cannot rewrite %s: %s.", name, ioReason(err))}
		}
		if err := os.WriteFile(name, formatted, info.Mode().Perm()); err != nil {
			return true, hcl.Diagnostics{errorAt(subject, "Failed to write file", "Cannot rewrite %s: %s.", name, ioReason(err))}
		}
	}
	return true, nil
}

// unifiedDiff returns a unified diff from a to b with three lines of context, from a
// longest common subsequence of their lines (configuration files are small).
func unifiedDiff(name, a, b string) string {
	x, y := splitLines(a), splitLines(b)
	// lcs[i][j] is the length of the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte // ' ', '-' or '+'
		text string
		ai   int // line index in a before this line
		bi   int
	}
	var lines []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			lines = append(lines, line{' ', x[i], i, j})
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', x[i], i, j})
			i++
		default:
			lines = append(lines, line{'+', y[j], i, j})
			j++
		}
	}

	const context = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- old/%s\n+++ new/%s\n", name, name)
	for k := 0; k < len(lines); {
		if lines[k].op == ' ' {
			k++
			continue
		}
		start := max(k-context, 0)
		end := k
		for n := k; n < len(lines); n++ {
			if lines[n].op != ' ' {
				end = n
			} else if n-end > 2*context {
				break
			}
		}
		end = min(end+context+1, len(lines))
		var aLen, bLen int
		for _, ln := range lines[start:end] {
			if ln.op != '+' {
				aLen++
			}
			if ln.op != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", lines[start].ai+1, aLen, lines[start].bi+1, bLen)
		for _, ln := range lines[start:end] {
			fmt.Fprintf(&out, "%c%s\n", ln.op, ln.text)
		}
		k = end
	}
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
