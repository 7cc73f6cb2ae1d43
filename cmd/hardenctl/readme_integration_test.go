package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadmeUsingIt runs the README's "Using it" block, line by line as written, in one
// shell from the repository's root, against the test bed: the README's examples are this
// test's input, not a copy of them. Each line must exit 0, or the code its comment names
// ("# exit N: ...").
func TestReadmeUsingIt(t *testing.T) {
	integration(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := readmeUsingIt(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// One shell runs them all (". scripts/testbed.env" sets what the later lines use): each
	// line of the list is "CODE<TAB>COMMAND", read and eval'ed in turn.
	var list strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&list, "%d\t%s\n", l.code, l.cmd)
	}
	listFile := filepath.Join(t.TempDir(), "commands")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	const runner = `n=0
while IFS=$'\t' read -r want line <&3; do
  n=$((n+1)); printf '\n$ %s\n' "$line"
  eval "$line"; rc=$?
  if [ "$rc" != "$want" ]; then echo "README command $n: exit $rc, want $want: $line" >&2; exit 100; fi
done 3< "$1"`
	cmd := exec.Command("bash", "-c", runner, "readme", listFile)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "HARDENCTL_REPORTS="+t.TempDir())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("the README's Using it block (%d commands) in %s:\n%s", len(lines), time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("the README's Using it block failed: %v", err)
	}
	os.Remove(filepath.Join(root, "sample.plan"))
}

type readmeLine struct {
	cmd  string
	code int
}

var exitComment = regexp.MustCompile(`#\s*exit (\d+)\b`)

// readmeUsingIt returns the commands of the first sh block under "## Using it", with the
// exit code each must have.
func readmeUsingIt(path string) ([]readmeLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	_, rest, ok := strings.Cut(string(b), "\n## Using it\n")
	if !ok {
		return nil, fmt.Errorf("%s has no \"## Using it\" section", path)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		return nil, fmt.Errorf("%s: no sh block under \"## Using it\"", path)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		return nil, fmt.Errorf("%s: the sh block under \"## Using it\" is not closed", path)
	}
	var lines []readmeLine
	for _, l := range strings.Split(block, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		rl := readmeLine{cmd: strings.TrimSpace(l)}
		if m := exitComment.FindStringSubmatch(l); m != nil {
			rl.code, _ = strconv.Atoi(m[1])
		}
		lines = append(lines, rl)
	}
	if len(lines) < 5 {
		return nil, fmt.Errorf("%s: the Using it block has %d commands; the README lost its examples?", path, len(lines))
	}
	return lines, nil
}
