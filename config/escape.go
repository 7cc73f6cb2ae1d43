package config

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// escapeControl makes text safe to write to a terminal: control characters (C0 but
// newline and tab, DEL, C1), Unicode bidirectional overrides and bytes that are not UTF-8
// become visible escapes like \x1b, so that a configuration cannot clear, retitle or
// rewrite the terminal of whoever reads its diagnostics. A carriage return before a newline
// is kept.
func escapeControl(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if e := escapeRune(s, i, r, size); e != "" {
			b.WriteString(e)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escapeRune returns the escape for the rune r of size bytes at s[i:], or "" when it is
// shown as it is.
func escapeRune(s string, i int, r rune, size int) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf(`\x%02x`, s[i])
	case r == '\n' || r == '\t':
		return ""
	case r == '\r' && i+1 < len(s) && s[i+1] == '\n':
		return ""
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf(`\x%02x`, r)
	case r >= 0x80 && r < 0xa0, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return ""
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r >= 0x7f {
			if escapeRune(s, i, r, size) != "" {
				return true
			}
		}
		i += size
	}
	return false
}

// snippet is the part of a file that a diagnostic shows, with its control characters
// escaped: the lines of its ranges, after as many empty lines as come before them, so that
// HCL's writer (which scans a file from its start, for every diagnostic) finds them at the
// same line numbers, quickly.
type snippet struct {
	file  *hcl.File
	start int // offset in the original of the first line shown
	pad   int // empty lines before it: bytes before it in the copy
	// at are the offsets, from start, of the runes escaped, and grow the bytes that the
	// escapes up to and including each add.
	at, grow []int
}

func newSnippet(f *hcl.File, rng hcl.Range) *snippet {
	src := f.Bytes
	from := min(max(rng.Start.Byte, 0), len(src))
	to := min(max(rng.End.Byte, from), len(src))
	start := bytes.LastIndexByte(src[:from], '\n') + 1
	end := len(src)
	if i := bytes.IndexByte(src[to:], '\n'); i >= 0 {
		end = to + i
	}
	sn := &snippet{start: start, pad: max(rng.Start.Line-1, 0)}
	chunk := string(src[start:end])
	var b strings.Builder
	b.WriteString(strings.Repeat("\n", sn.pad))
	total := 0
	for i := 0; i < len(chunk); {
		r, size := utf8.DecodeRuneInString(chunk[i:])
		if esc := escapeRune(chunk, i, r, size); esc != "" {
			b.WriteString(esc)
			total += len(esc) - size
			sn.at = append(sn.at, i)
			sn.grow = append(sn.grow, total)
		} else {
			b.WriteString(chunk[i : i+size])
		}
		i += size
	}
	sn.file = &hcl.File{Body: f.Body, Bytes: []byte(b.String()), Nav: escapedNav{sn, f.Nav}}
	return sn
}

// offset maps an offset of the original to the copy.
func (sn *snippet) offset(o int) int {
	o -= sn.start
	k := sort.SearchInts(sn.at, o) // escapes before o: sn.at[:k]
	if k > 0 {
		o += sn.grow[k-1]
	}
	return sn.pad + o
}

// original maps an offset of the copy back to the original.
func (sn *snippet) original(o int) int {
	o -= sn.pad
	k := sort.Search(len(sn.at), func(k int) bool { return sn.at[k]+sn.grow[k] >= o })
	if k > 0 {
		o -= sn.grow[k-1]
	}
	return sn.start + o
}

func (sn *snippet) rng(r *hcl.Range, filename string) *hcl.Range {
	out := *r
	out.Filename = filename
	out.Start.Byte = sn.offset(r.Start.Byte)
	out.End.Byte = sn.offset(r.End.Byte)
	return &out
}

// escapedNav answers HCL's question of which block an offset is in ("in zone "app"") for
// the copy, escaped too.
type escapedNav struct {
	sn  *snippet
	nav any
}

func (n escapedNav) ContextString(offset int) string {
	cs, ok := n.nav.(interface{ ContextString(int) string })
	if !ok {
		return ""
	}
	return escapeControl(cs.ContextString(n.sn.original(offset)))
}

// escapeDiagnostic returns a copy of diag for people to read, and the file to show its
// source from: text escaped, ranges in the snippet of the source, and without the
// expression and its evaluation context, whose values HCL would print ("with var.x as
// ..."): they may be secrets, or hold control characters.
func escapeDiagnostic(diag *hcl.Diagnostic, sources map[string]*hcl.File) (*hcl.Diagnostic, map[string]*hcl.File) {
	out := *diag
	out.Summary = escapeControl(diag.Summary)
	out.Detail = escapeControl(diag.Detail)
	out.Expression, out.EvalContext = nil, nil
	if diag.Subject == nil {
		return &out, nil
	}
	name := diag.Subject.Filename
	ename := escapeControl(name)
	shown := *diag.Subject
	if diag.Context != nil && diag.Context.Filename == name {
		shown = hcl.RangeOver(shown, *diag.Context)
	} else {
		out.Context = nil
	}
	f := sources[name]
	if f == nil || f.Bytes == nil {
		s := *diag.Subject
		s.Filename = ename
		out.Subject = &s
		out.Context = nil
		return &out, nil
	}
	sn := newSnippet(f, shown)
	out.Subject = sn.rng(diag.Subject, ename)
	if out.Context != nil {
		out.Context = sn.rng(diag.Context, ename)
	}
	return &out, map[string]*hcl.File{ename: sn.file}
}
