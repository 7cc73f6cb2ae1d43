package config

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
)

// FormatDiagnosticsCompact renders diags one per line, as compilers do, for CI logs and
// editors: "FILE:LINE:COL: error: SUMMARY; DETAIL". The detail's line breaks become spaces;
// control characters are escaped (\x1b).
func FormatDiagnosticsCompact(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, diag := range diags {
		severity := "error"
		if diag.Severity == hcl.DiagWarning {
			severity = "warning"
		}
		if diag.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", escapeControl(diag.Subject.Filename), diag.Subject.Start.Line, diag.Subject.Start.Column)
		}
		fmt.Fprintf(&b, "%s: %s", severity, escapeControl(diag.Summary))
		if detail := escapeControl(strings.Join(strings.Fields(diag.Detail), " ")); detail != "" {
			fmt.Fprintf(&b, "; %s", detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// at formats where a range starts as FILE:LINE,COL, for details that say where something
// was declared first.
func at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d,%d", r.Filename, r.Start.Line, r.Start.Column)
}

// errorAt is an error diagnostic pointing at subject.
func errorAt(subject hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject.Ptr()}
}

// didYouMean returns the candidate closest to given, or "" when none is close enough to be
// the likely intent.
func didYouMean(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortDiagnostics orders diags by where they point, so that they read along the files;
// diagnostics about values from the command line come first.
func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// ioReason is the reason of a file system error without the operation and path, which the
// diagnostic says already.
func ioReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
