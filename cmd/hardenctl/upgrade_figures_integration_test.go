package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestUpgradeFigures measures rollouts of six real servers (scripts/bench-upgrade.sh; not part
// of make test: HARDENCTL_UPGRADE_FIGURES=1): for max_unavailable 1, 2 and 3, with every gate
// (ssh, tcp 22 and 2222, score), the wall time against the bound "sum over batches of the
// slowest server's rebuild + gates" (and batches x the slowest overall), the mean time in each
// gate, and hardenctl's own CPU and peak memory (/usr/bin/time -v). Figures, not assertions.
func TestUpgradeFigures(t *testing.T) {
	integration(t)
	if os.Getenv("HARDENCTL_UPGRADE_FIGURES") != "1" {
		t.Skip("set HARDENCTL_UPGRADE_FIGURES=1 (scripts/bench-upgrade.sh)")
	}
	b := newUpgradeBed(t)
	var rows []string
	target := b.name + "-b"
	for _, mu := range []int{1, 2, 3} {
		b.writeConfig(t, upgradeHealth{tcp: "[22, 2222]", minScore: "1", onFailure: "rollback", timeout: "5m", maxUnavailable: mu})
		cmd := exec.Command("/usr/bin/time", "-v", b.bin, "-C", b.dir, "upgrade", "web", "-json", "-poll", "1s", "-image", target, "-cloud", "demo")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("max_unavailable %d: %v\n%s", mu, err, lastLines(errOut.String(), 30))
		}
		wall := time.Since(start)
		rows = append(rows, figures(t, mu, wall, out.String(), errOut.String()))
		if target == b.name+"-b" {
			target = b.name + "-a"
		} else {
			target = b.name + "-b"
		}
	}
	t.Logf("rollout of 6 servers, canary 1, gates ssh + tcp 22 + tcp 2222 + score:\n%s", strings.Join(rows, "\n"))
}

type figEvent struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Address   string    `json:"address"`
	Action    string    `json:"action"`
	Phase     string    `json:"phase"`
	ElapsedMS *int64    `json:"elapsed_ms"`
}

func figures(t *testing.T, mu int, wall time.Duration, stdout, stderr string) string {
	var evs []figEvent
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e figEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			evs = append(evs, e)
		}
	}
	// Each server's rebuild + gates: from its rebuild's start to its last gate's end; its batch
	// from the batch start events around it.
	type srv struct {
		start, end time.Time
		batch      string
	}
	servers := map[string]*srv{}
	gate := map[string][]time.Duration{}
	batch := ""
	var rolloutMS int64
	for _, e := range evs {
		switch {
		case e.Kind == "batch" && e.Action == "batch" && e.Phase == "start":
			batch = e.Address
		case e.Kind == "server" && e.Action == "rebuild" && e.Phase == "start":
			servers[e.Address] = &srv{start: e.Time, batch: batch}
		case e.Kind == "server" && e.Phase == "end" && e.ElapsedMS != nil:
			gate[e.Action] = append(gate[e.Action], time.Duration(*e.ElapsedMS)*time.Millisecond)
			if s := servers[e.Address]; s != nil && strings.HasPrefix(e.Action, "gate") {
				s.end = e.Time
			}
		case e.Kind == "rollout" && e.Action == "upgrade" && e.Phase == "end" && e.ElapsedMS != nil:
			rolloutMS = *e.ElapsedMS
		}
	}
	slowest := map[string]time.Duration{}
	var overall time.Duration
	for _, s := range servers {
		d := s.end.Sub(s.start)
		slowest[s.batch] = max(slowest[s.batch], d)
		overall = max(overall, d)
	}
	var bound time.Duration
	for _, d := range slowest {
		bound += d
	}
	actions := make([]string, 0, len(gate))
	for a := range gate {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	var per []string
	for _, a := range actions {
		var sum time.Duration
		for _, d := range gate[a] {
			sum += d
		}
		per = append(per, fmt.Sprintf("%s %.1fs", a, (sum/time.Duration(len(gate[a]))).Seconds()))
	}
	grab := func(re string) string {
		if m := regexp.MustCompile(re).FindStringSubmatch(stderr); m != nil {
			return strings.TrimSpace(m[1])
		}
		return "?"
	}
	rollout := time.Duration(rolloutMS) * time.Millisecond
	return fmt.Sprintf("max_unavailable %d: %d batches; rollout %.1fs (process %.1fs); bound sum of batches' slowest %.1fs (ratio %.2f), batches x slowest %.1fs; mean per server: %s; hardenctl user %ss sys %ss, max RSS %s KB",
		mu, len(slowest), rollout.Seconds(), wall.Seconds(), bound.Seconds(), rollout.Seconds()/bound.Seconds(),
		(time.Duration(len(slowest)) * overall).Seconds(), strings.Join(per, ", "),
		grab(`User time \(seconds\): (\S+)`), grab(`System time \(seconds\): (\S+)`), grab(`Maximum resident set size \(kbytes\): (\S+)`))
}
