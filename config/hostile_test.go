package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadHostile loads the directory dir within a time and memory bound: Load must return,
// with an error diagnostic, within 20 seconds (the machine may be busy) and without allocating more than 256 MiB.
func loadHostile(t *testing.T, dir string) string {
	t.Helper()
	type result struct {
		cfg   *Config
		text  string
		alloc uint64
	}
	done := make(chan result, 1)
	go func() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		l := NewLoader()
		cfg, diags := l.Load(dir, LoadOptions{})
		runtime.ReadMemStats(&after)
		var b bytes.Buffer
		if err := l.WriteDiagnostics(&b, diags, false); err != nil {
			t.Errorf("WriteDiagnostics: %v", err)
		}
		if !diags.HasErrors() {
			b.WriteString("(no error)")
		}
		done <- result{cfg, b.String(), after.TotalAlloc - before.TotalAlloc}
	}()
	select {
	case r := <-done:
		if r.cfg != nil {
			t.Errorf("Load returned a Config")
		}
		if strings.Contains(r.text, "(no error)") {
			t.Errorf("Load reported no error")
		}
		if r.alloc > 256<<20 {
			t.Errorf("Load allocated %d MiB", r.alloc>>20)
		}
		return r.text
	case <-time.After(20 * time.Second):
		t.Fatalf("Load did not return within 20s")
	}
	return ""
}

// hostileDir writes src as main.hcl of a fresh configuration directory.
func hostileDir(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hostile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.hcl"), src)
	return dir
}

// TestHostileNesting: nesting that would overflow the parser's (or the evaluator's) stack,
// a fatal error that no recover catches, is an error diagnostic found before parsing.
func TestHostileNesting(t *testing.T) {
	const n = 100000
	for name, src := range map[string]string{
		"brackets":     "x = " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n",
		"unclosed":     "x = " + strings.Repeat("[", n) + "\n",
		"parens":       "locals {\n  x = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + "\n}\n",
		"objects":      "locals {\n  x = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n) + "\n}\n",
		"blocks":       strings.Repeat("zone \"a\" {\n", n) + strings.Repeat("}\n", n),
		"templates":    "locals {\n  x = " + strings.Repeat("\"${", n) + "1" + strings.Repeat("}\"", n) + "\n}\n",
		"not":          "locals {\n  x = " + strings.Repeat("!", n) + "true\n}\n",
		"minus":        "locals {\n  x = " + strings.Repeat("-", n) + "1\n}\n",
		"sum":          "locals {\n  x = 1" + strings.Repeat(" + 1", n) + "\n}\n",
		"conditionals": "locals {\n  x = " + strings.Repeat("true ? 1 : ", n) + "1\n}\n",
		"index":        "locals {\n  y = [1]\n  x = local.y" + strings.Repeat("[local.y[0]-1]", n/10) + "\n}\n",
		"heredoc":      "locals {\n  x = <<EOT\n" + strings.Repeat("${[", n) + "\nEOT\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			text := loadHostile(t, hostileDir(t, src))
			if !strings.Contains(text, "nested") {
				t.Errorf("no nesting error:\n%.2000s", text)
			}
		})
	}
}

// TestHostileValues: values that double, repeat or multiply until they exhaust memory are
// an error at the expression that makes them too large.
func TestHostileValues(t *testing.T) {
	var doubling strings.Builder
	doubling.WriteString("locals {\n  a0 = \"xx\"\n")
	for i := 1; i < 64; i++ {
		fmt.Fprintf(&doubling, "  a%d = \"${local.a%d}${local.a%d}\"\n", i, i-1, i-1)
	}
	doubling.WriteString("}\n")
	var lists strings.Builder
	lists.WriteString("locals {\n  l0 = [1, 2]\n")
	for i := 1; i < 64; i++ {
		fmt.Fprintf(&lists, "  l%d = concat(local.l%d, local.l%d)\n", i, i-1, i-1)
	}
	lists.WriteString("}\n")
	var shared strings.Builder
	shared.WriteString("locals {\n  s0 = [1, 2]\n")
	for i := 1; i < 64; i++ {
		fmt.Fprintf(&shared, "  s%d = [local.s%d, local.s%d]\n", i, i-1, i-1)
	}
	shared.WriteString("  x = flatten(local.s63)\n}\n")
	var many strings.Builder
	many.WriteString("locals {\n  big = \"" + strings.Repeat("x", 1<<19) + "\"\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&many, "  c%d = \"${local.big}${local.big}\"\n", i)
	}
	many.WriteString("}\n")
	for name, src := range map[string]string{
		"doubling strings": doubling.String(),
		"doubling lists":   lists.String(),
		"shared tuples":    shared.String(),
		"many locals":      many.String(),
		"template repeat":  "locals {\n  a = \"" + strings.Repeat("x", 1<<16) + "\"\n  b = \"" + strings.Repeat("${local.a}", 1500) + "\"\n}\n",
		"template signs":   "locals {\n  b = \"" + strings.Repeat("$x", 100000) + "\"\n}\n",
		"template for":     "locals {\n  a = \"" + strings.Repeat("x", 1<<16) + "\"\n  b = \"%{for i in range(100000)}${local.a}%{endfor}\"\n}\n",
		"nested for":       "locals {\n  x = [for i in range(1000) : [for j in range(1000) : [for k in range(1000) : k]]]\n}\n",
		"range":            "locals {\n  x = range(100000000)\n}\n",
		"join":             "locals {\n  a = \"" + strings.Repeat("x", 1<<16) + "\"\n  b = join(local.a, range(100000))\n}\n",
		"format":           "locals {\n  a = \"" + strings.Repeat("x", 1<<16) + "\"\n  b = format(\"" + strings.Repeat("%s", 1500) + "\", " + strings.Repeat("local.a, ", 1499) + "local.a)\n}\n",
		"formatlist":       "locals {\n  r = flatten([for i in range(10) : range(1000)])\n  x = formatlist(\"%d%d\", local.r, [for i in local.r : local.r])\n}\n",
		"replace":          "locals {\n  a = \"" + strings.Repeat("x", 1<<16) + "\"\n  b = replace(local.a, \"x\", local.a)\n}\n",
		"regex replace":    "locals {\n  a = \"" + strings.Repeat("x", 1<<16) + "\"\n  b = replace(local.a, \"/x/\", \"$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0\")\n}\n",
		"number":           "locals {\n  a = 1e1000\n  b = local.a * local.a * local.a * local.a * local.a\n  c = local.b * local.b * local.b * local.b * local.b\n  d = \"${local.c * local.c * local.c * local.c}\"\n}\n",
		"number string":    "locals {\n  a = \"1e99999999\"\n  b = \"${local.a + 0}\"\n}\n",
		"number in cond":   "locals {\n  a = 1e1000\n  b = true ? local.a * local.a * local.a * local.a * local.a * local.a * local.a : \"x\"\n}\n",
		"upper":            "locals {\n  a = \"" + strings.Repeat("ſ", 1<<18) + "\"\n  b = [for i in range(1000) : upper(local.a)]\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			text := loadHostile(t, hostileDir(t, src))
			if !strings.Contains(text, "large") && !strings.Contains(text, "Template too long") {
				t.Errorf("no size error:\n%.3000s", text)
			}
		})
	}
}

// TestHostileFiles: only regular files of a bounded size are read; a FIFO would block the
// loader forever, /dev/zero would fill memory.
func TestHostileFiles(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T, dir string){
		"fifo": func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "main.hcl"), 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		},
		"dev zero": func(t *testing.T, dir string) {
			if err := os.Symlink("/dev/zero", filepath.Join(dir, "main.hcl")); err != nil {
				t.Fatal(err)
			}
		},
		"huge file": func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "main.hcl"), "# "+strings.Repeat("x", 5<<20)+"\n")
		},
		"huge files": func(t *testing.T, dir string) {
			for i := 0; i < 8; i++ {
				writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.hcl", i)), "# "+strings.Repeat("x", 3<<20)+"\n")
			}
		},
		"many files": func(t *testing.T, dir string) {
			for i := 0; i < 2000; i++ {
				writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.hcl", i)), "")
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hostile")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			setup(t, dir)
			loadHostile(t, dir)
			loadHostile(t, filepath.Join(dir, "main.hcl"))
		})
	}
}

// TestControlBytesEscaped: diagnostics never write the control bytes of a file or a value
// to the terminal (an escape sequence could clear it or retitle it); they show them as
// escapes.
func TestControlBytesEscaped(t *testing.T) {
	src := "zone \"a\x1b[2J\" {} # \x07\x1b]0;pwned\x07\r\nzone \"b\" { description = 1 }\r\nlocals {\n  x = \"\x1b[31m\" + 1\n}\n\x1b[2J"
	text := loadHostile(t, hostileDir(t, src))
	for _, c := range text {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			t.Fatalf("diagnostics show control character %U:\n%q", c, text)
		}
	}
	if !strings.Contains(text, `\x1b`) {
		t.Errorf("the escape is not shown escaped:\n%s", text)
	}
}

// TestManyErrorsCapped: thousands of errors are reported as the first maxDiagnostics and
// one that counts the rest, so that rendering them (HCL scans the file for each) stays
// quick.
func TestManyErrorsCapped(t *testing.T) {
	var src strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&src, "zone \"z%d\" {\n  ingress { from = \"bad\" }\n}\n", i)
	}
	cfg, diags := NewLoader().Load(hostileDir(t, src.String()), LoadOptions{})
	if cfg != nil || len(diags) != maxDiagnostics+1 {
		t.Fatalf("got %d diagnostics, want %d", len(diags), maxDiagnostics+1)
	}
	if last := diags[len(diags)-1]; last.Summary != "Too many problems" || !strings.Contains(last.Detail, "4900 more") {
		t.Errorf("last diagnostic: %s: %s", last.Summary, last.Detail)
	}
}

// TestHostileVarValue: a -var value or an environment variable is parsed as HCL for a
// variable that is not a string; its nesting is bounded too.
func TestHostileVarValue(t *testing.T) {
	dir := hostileDir(t, "variable \"x\" {\n  type = any\n}\n")
	deep := strings.Repeat("[", 100000)
	for _, opts := range []LoadOptions{{Vars: []string{"x=" + deep}}, {Environ: []string{EnvVarPrefix + "x=" + deep}}} {
		cfg, diags := NewLoader().Load(dir, opts)
		if cfg != nil || !strings.Contains(FormatDiagnosticsCompact(diags), "nested") {
			t.Errorf("no nesting error: %s", FormatDiagnosticsCompact(diags))
		}
	}
}
