package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// LoadOptions carries the variable values given outside the configuration files.
type LoadOptions struct {
	Vars     []string // -var name=value, in order given
	VarFiles []string // -var-file paths (*.hcl / *.hcl.json style: name = value attributes)
	Environ  []string // os.Environ(); HARDENCTL_VAR_name=value is read from it
}

// EnvVarPrefix starts the name of an environment variable that sets an input variable:
// HARDENCTL_VAR_admin_cidrs sets var.admin_cidrs.
const EnvVarPrefix = "HARDENCTL_VAR_"

// Loader reads configurations. It keeps the source of every file the last Load read, so
// that WriteDiagnostics can show the lines a diagnostic points at. A Loader is not safe for
// concurrent use.
type Loader struct {
	parser *hclparse.Parser
	read   int // bytes of the files the last Load read, against maxTotalSize
}

// NewLoader returns a Loader that has read nothing yet.
func NewLoader() *Loader {
	return &Loader{parser: hclparse.NewParser()}
}

// Load reads every *.hcl file of a directory (sorted, not recursive), or one file, and
// evaluates it. The Config is nil when the diagnostics hold an error; all errors found are
// reported, not only the first.
func (l *Loader) Load(path string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	// The parser caches files by name: start afresh, so that a reload sees edits.
	l.parser = hclparse.NewParser()
	l.read = 0
	files, dir, diags := l.parseFiles(path)
	if diags.HasErrors() {
		return nil, capDiagnostics(diags)
	}
	d := newDecoder(l, dir)
	diags = append(diags, d.decode(files, opts)...)
	sortDiagnostics(diags)
	diags = capDiagnostics(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return d.cfg, diags
}

// capDiagnostics keeps the first maxDiagnostics of diags, and says how many more there were.
func capDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) <= maxDiagnostics {
		return diags
	}
	rest := diags[maxDiagnostics:]
	errors := 0
	for _, d := range rest {
		if d.Severity == hcl.DiagError {
			errors++
		}
	}
	out := append(hcl.Diagnostics{}, diags[:maxDiagnostics]...)
	subject := rest[0].Subject
	if subject == nil {
		subject = &hcl.Range{Filename: "<configuration>", Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	severity := hcl.DiagWarning
	if errors > 0 {
		severity = hcl.DiagError
	}
	return append(out, &hcl.Diagnostic{Severity: severity, Summary: "Too many problems",
		Detail:  fmt.Sprintf("%d more diagnostics (%d errors) are not shown; fix the ones above first.", len(rest), errors),
		Subject: subject})
}

// parseFiles parses path, a directory or a file, and returns the files and the directory
// the configuration is named after.
func (l *Loader) parseFiles(path string) ([]*hcl.File, string, hcl.Diagnostics) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read configuration",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, ioReason(err)),
			Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
		}}
	}
	if !info.IsDir() && !info.Mode().IsRegular() {
		return nil, "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read configuration",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, errNotRegular(info.Mode())),
			Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
		}}
	}
	var names []string
	dir := path
	if info.IsDir() {
		names, err = hclFiles(path)
		if err != nil {
			return nil, "", hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Failed to read configuration directory",
				Detail:   fmt.Sprintf("Cannot list %s: %s.", path, ioReason(err)),
				Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
			}}
		}
		if len(names) == 0 {
			return nil, "", hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "No configuration files",
				Detail:   fmt.Sprintf("The directory %s holds no *.hcl file.", path),
				Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
			}}
		}
	} else {
		names = []string{path}
		dir = filepath.Dir(path)
	}
	var files []*hcl.File
	var diags hcl.Diagnostics
	for _, name := range names {
		f, fDiags := l.parseFile(name)
		diags = append(diags, fDiags...)
		if f != nil {
			files = append(files, f)
		}
	}
	return files, dir, diags
}

// parseFile parses one file as HCL native syntax, or as JSON when its name ends in .json.
func (l *Loader) parseFile(name string) (*hcl.File, hcl.Diagnostics) {
	src, diag := readSource(name, maxTotalSize-l.read)
	if diag != nil {
		return nil, hcl.Diagnostics{diag}
	}
	l.read += len(src)
	if diag := checkNesting(src, name, strings.HasSuffix(name, ".json")); diag != nil {
		// The parser would overflow its stack; keep the source for the snippet.
		l.parser.AddFile(name, &hcl.File{Body: hcl.EmptyBody(), Bytes: src})
		return nil, hcl.Diagnostics{diag}
	}
	if strings.HasSuffix(name, ".json") {
		return l.parser.ParseJSON(src, name)
	}
	f, diags := l.parser.ParseHCL(src, name)
	if f != nil {
		if body, ok := f.Body.(*hclsyntax.Body); ok {
			diags = append(diags, checkNumberLiterals(body)...)
		}
	}
	return f, diags
}

// readSource reads a configuration file: a regular file (or a link to one) of at most
// maxFileSize bytes, and at most left. A FIFO, a device or /dev/zero is an error, not a
// hang or a fill of memory.
func readSource(name string, left int) ([]byte, *hcl.Diagnostic) {
	subject := hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}
	fail := func(err error) ([]byte, *hcl.Diagnostic) {
		return nil, errorAt(subject, "Failed to read file", "Cannot read %s: %s.", name, err)
	}
	f, err := os.OpenFile(name, openFlags, 0)
	if err != nil {
		return fail(ioReason(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fail(ioReason(err))
	}
	if !info.Mode().IsRegular() {
		return fail(errNotRegular(info.Mode()))
	}
	limit := min(maxFileSize, left)
	if info.Size() > int64(limit) {
		return fail(errTooBig(limit))
	}
	src, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return fail(ioReason(err))
	}
	if len(src) > limit {
		return fail(errTooBig(limit))
	}
	return src, nil
}

func errNotRegular(mode os.FileMode) error {
	return fmt.Errorf("not a regular file but %s; configuration files are regular files", strings.TrimSpace(modeName(mode)))
}

func modeName(mode os.FileMode) string {
	switch {
	case mode&os.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&os.ModeSocket != 0:
		return "a socket"
	case mode&os.ModeCharDevice != 0:
		return "a character device"
	case mode&os.ModeDevice != 0:
		return "a device"
	case mode.IsDir():
		return "a directory"
	}
	return "of mode " + mode.String()
}

func errTooBig(limit int) error {
	if limit < maxFileSize {
		return fmt.Errorf("the files of the configuration are larger than %d MiB in all", maxTotalSize>>20)
	}
	return fmt.Errorf("it is larger than %d MiB; no configuration file needs that", maxFileSize>>20)
}

// maxNumberExponent bounds the binary exponent of number literals. Turning 1e99999999 into
// a string would take minutes; no port, count or address needs more than 2^4096.
const maxNumberExponent = 4096

// checkNumberLiterals reports the number literals of node that are too large or too small.
func checkNumberLiterals(node hclsyntax.Node) hcl.Diagnostics {
	return hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if !ok || lit.Val.Type() != cty.Number || lit.Val.IsNull() || !lit.Val.IsKnown() {
			return nil
		}
		if exp := lit.Val.AsBigFloat().MantExp(nil); exp > maxNumberExponent || exp < -maxNumberExponent {
			return hcl.Diagnostics{errorAt(lit.SrcRange, "Number out of range",
				"This number is too large or too small to be of any use here.")}
		}
		return nil
	})
}

// hclFiles lists the *.hcl files directly in dir, sorted.
func hclFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".hcl") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		names = append(names, filepath.Join(dir, e.Name()))
		if len(names) > maxFiles {
			return nil, fmt.Errorf("it holds more than %d *.hcl files", maxFiles)
		}
	}
	sort.Strings(names)
	return names, nil
}

// configNamePattern is what a configuration name must look like: it goes into the
// ownership tags of every managed resource.
var configNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,38}$`)

// defaultConfigName derives a configuration name from a directory: its base name,
// lower-cased, with every run of other characters than a-z, 0-9 and '-' made one '-'.
func defaultConfigName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err == nil {
		dir = abs
	}
	base := strings.ToLower(filepath.Base(dir))
	var b strings.Builder
	dash := false
	for _, r := range base {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-'
		if !ok {
			if !dash {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(r)
		dash = r == '-'
	}
	return strings.Trim(b.String(), "-")
}

// WriteDiagnostics renders diags for people: each with its file, line, the source lines it
// points at, and its detail, wrapped at 78 columns. Control characters of the source and
// of the messages are shown escaped (\x1b), never written to the terminal; the values of
// an expression's variables ("with var.x as ...") are not shown, as they may be secret.
//
// HCL's own writer says "on FILE line N"; the location is rewritten as FILE:LINE:COLUMN,
// which editors and CI annotations can follow.
func (l *Loader) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, color bool) error {
	sources := l.parser.Files()
	for _, diag := range diags {
		d, files := escapeDiagnostic(diag, sources)
		var b bytes.Buffer
		if err := hcl.NewDiagnosticTextWriter(&b, files, 78, color).WriteDiagnostic(d); err != nil {
			return err
		}
		text := b.String()
		if s := d.Subject; s != nil {
			text = strings.Replace(text, fmt.Sprintf("on %s line %d", s.Filename, s.Start.Line),
				fmt.Sprintf("on %s:%d:%d", s.Filename, s.Start.Line, s.Start.Column), 1)
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
	return nil
}

// addSynthetic registers src under a synthetic file name (like "<value for var.x>") so that
// diagnostics pointing into a value given on the command line show it.
func (l *Loader) addSynthetic(name string, src []byte) {
	l.parser.AddFile(name, &hcl.File{Body: hcl.EmptyBody(), Bytes: src})
}
