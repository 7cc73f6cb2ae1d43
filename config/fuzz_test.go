package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Bounds of the work of one FuzzLoad input: CPU time (of this process, so that a busy
// machine does not make it fail) and bytes allocated.
const (
	fuzzMaxCPU   = 2 * time.Second
	fuzzMaxAlloc = 256 << 20
)

// FuzzLoad loads arbitrary files as a configuration: loading, rendering the diagnostics
// and formatting must never panic, and a Config comes only without errors; each input
// must take at most fuzzMaxCPU and allocate at most fuzzMaxAlloc.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../testdata/platform/*.hcl", "../testdata/config-errors/*.hcl", "../testdata/fmt/*.hcl"} {
		seeds, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, seed := range seeds {
			src, err := os.ReadFile(seed)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	// References written as object literals, and values of every shape where the new
	// block types expect names, lists and maps.
	f.Add([]byte(`zone "app" {}
image "n" {
  source {
    properties = { a = 1 }
    tags       = toset(["x"])
  }
  flavor     = "f"
  mirrors    = [{ kind = "mirror", name = null }, mirror.m]
  registries = registry.r
  profile    = { kind = "profile", name = "p" }
  min_score  = 1 / 0
}
mirror "m" {
  kind   = "apt"
  url    = "file:///srv"
  suites = [for s in ["a"] : s]
}
registry "r" { url = "[::1]:5000/x" }
profile "p" {
  scap_profile = { "Debian 12" = true }
  audit { rules = ["-w /x", null] }
}
fleet "f" {
  image  = image.n
  zone   = { kind = "zone", name = "nope" }
  flavor = "x"
  count  = "3"
  upgrade {
    health { tcp = "1-2" }
  }
}
ssh {
  identity_files  = "~"
  known_hosts     = "~/kh"
  connect_timeout = "-1s"
}
bastion {
  allow_from = ["10.0.0.0/8"]
  address    = "[::1]"
  image      = image.n
}
compliance {
  profile = "standard"
  timeout = 5
}
`))
	for _, seed := range hostileSeeds() {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := filepath.Join(t.TempDir(), "fuzz")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu := cpuTime()
		defer func() {
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if took := cpuTime() - cpu; took > fuzzMaxCPU {
				t.Errorf("took %v of CPU", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzMaxAlloc {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
		}()
		l := NewLoader()
		cfg, diags := l.Load(dir, LoadOptions{Environ: []string{"HARDENCTL_VAR_y=[1]"}})
		if diags.HasErrors() && cfg != nil {
			t.Errorf("Config returned with errors")
		}
		if !diags.HasErrors() && cfg == nil {
			t.Errorf("no Config and no error")
		}
		for _, diag := range diags {
			if diag.Subject == nil {
				t.Errorf("diagnostic without a subject: %s: %s", diag.Summary, diag.Detail)
			}
		}
		var text bytes.Buffer
		if err := l.WriteDiagnostics(&text, diags, true); err != nil {
			t.Errorf("WriteDiagnostics: %v", err)
		}
		// The writer's own colours are the only escapes it may write.
		rendered := text.String()
		for _, code := range []string{"\x1b[31m", "\x1b[33m", "\x1b[0m", "\x1b[1;4m"} {
			rendered = strings.ReplaceAll(rendered, code, "")
		}
		if i := strings.IndexFunc(rendered, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }); i >= 0 {
			t.Errorf("diagnostics write a control character: %q", rendered[max(0, i-40):min(len(rendered), i+40)])
		}
		if cfg != nil {
			checkFuzzSSH(t, cfg)
		}
		FormatDiagnosticsCompact(diags)
		if _, diags := l.FormatFiles(dir, FormatOptions{Check: true, Diff: true}, io.Discard); diags == nil {
			Format(src)
		}
	})
}

// checkFuzzSSH: a configuration that loads lets SSH into zones only from the bastion, and
// into the bastion only from allow_from; and it opens the bastion to the world only when
// it says so.
func checkFuzzSSH(t *testing.T, cfg *Config) {
	t.Helper()
	optIn := false // with allow_ssh somewhere, SSH from elsewhere is deliberate
	for _, z := range cfg.Zones {
		for _, r := range append(append([]*Rule{}, z.Ingress...), z.Egress...) {
			optIn = optIn || r.AllowSSH
		}
	}
	if !optIn {
		if bad := checkSSHPath(cfg, sshInto(cfg)); len(bad) > 0 {
			t.Errorf("SSH %s", strings.Join(bad, "; "))
		}
	}
	if b := cfg.Bastion; b != nil && !b.AllowFromAnywhere && coversAnAddressFamily(b.AllowFrom) != nil {
		t.Errorf("bastion open to %v without allow_from_anywhere", b.AllowFrom)
	}
}

// hostileSeeds are the inputs of issue 8 that broke the loader or its guards.
func hostileSeeds() []string {
	var doubling strings.Builder
	doubling.WriteString("locals {\n  a0 = \"xx\"\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&doubling, "  a%d = \"${local.a%d}${local.a%d}\"\n", i, i-1, i-1)
	}
	doubling.WriteString("}\n")
	return []string{
		"x = " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "\n",
		"locals {\n  x = " + strings.Repeat("\"${", 150) + "1" + strings.Repeat("}\"", 150) + "\n}\n",
		"locals {\n  x = " + strings.Repeat("!", 1200) + "true\n}\n",
		"locals {\n  x = 1" + strings.Repeat(" + 1", 1200) + "\n}\n",
		"locals {\n  x = \"" + strings.Repeat("$a", 2500) + "\"\n}\n",
		doubling.String(),
		"locals {\n  l0 = [1, 2]\n  l1 = concat(local.l0, local.l0)\n  l2 = [local.l1, local.l1]\n  l3 = flatten([local.l2, local.l2])\n}\n",
		"locals {\n  x = [for i in range(1000) : [for j in range(1000) : [for k in range(1000) : k]]]\n}\n",
		"locals {\n  a = \"xxxxxxxxxxxxxxxx\"\n  b = replace(local.a, \"x\", local.a)\n  c = replace(local.b, \"/x/\", \"$0$0$0$0\")\n  d = join(local.c, range(1000))\n}\n",
		"locals {\n  a = 1e1000\n  b = local.a * local.a * local.a * local.a * local.a\n  c = \"${local.b * local.b}\"\n}\n",
		"zone \"a\x1b[2J\" {} # \x07\x1b]0;title\x07\r\nzone \"b\" { description = \"\x1b[31m\" + 1 }\n\x1b[2J\u202e",
		"bastion {\n  allow_from = [\"0.0.0.0/0\"]\n}\n",
		"bastion {\n  allow_from = [\"0.0.0.0/1\", \"128.0.0.0/1\", \"::/0\"]\n  allow_from_anywhere = true\n}\n",
		"bastion {\n  allow_from = [\"198.51.100.0/24\"]\n}\nzone \"app\" {\n  egress {\n    to    = [zone.data, bastion]\n    ports = [\"20-30\"]\n  }\n  egress {\n    to       = zone.app\n    protocol = \"any\"\n  }\n}\nzone \"data\" {\n  egress {\n    to        = zone.app\n    ports     = [22]\n    allow_ssh = true\n  }\n}\n",
	}
}
