package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hardenctl/hardenctl/rollout"
)

// emptyFleet is a cloud whose fleet has no servers (the rollout has nothing to do).
type emptyFleet struct{ rollout.Cloud }

func (emptyFleet) ListFleet(context.Context, []string) ([]rollout.Server, error) { return nil, nil }

// Without a terminal, upgrade --tui is the text view and says so; -tui with -json is refused.
func TestUpgradeTUIWithoutTerminal(t *testing.T) {
	var stderr bytes.Buffer
	g := &globals{stdout: &bytes.Buffer{}, stderr: &stderr}
	r := &upgradeRun{Spec: rollout.Spec{Config: "t", Fleet: "app", Target: "img-b"}, deps: rollout.Deps{Cloud: emptyFleet{}}}
	_, err := tuiView(upgradeOptions{tui: true}).run(context.Background(), g, r)
	t.Logf("the rollout itself (no servers, no tags): %v", err)
	if !strings.Contains(stderr.String(), "upgrade --tui: no terminal on stdin and stderr; showing the text view") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if res := runCLI(t, "", nil, "upgrade", "app", "-tui", "-json"); res.code == 0 || !strings.Contains(res.stderr, "-tui and -json are two views") {
		t.Errorf("-tui -json: code %d, stderr %s", res.code, res.stderr)
	}
}
