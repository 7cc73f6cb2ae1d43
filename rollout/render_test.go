package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
)

// The plan's text shows the budget arithmetic, the gates in order, what is wiped, the
// batches with their servers, the volume-backed ones and the rollback's images.
func TestWritePlan(t *testing.T) {
	u := upgrade(2)
	u.MaxUnavailable = config.Amount{N: 40, Percent: true}
	var servers []Server
	for _, name := range []string{"app-01", "app-02", "app-03", "app-04", "app-05", "app-06"} {
		servers = append(servers, Server{ID: "id-" + name, Name: name, Status: "ACTIVE", ImageID: "img-A0000000"})
	}
	servers[5].ImageID, servers[5].VolumeBacked = "", true
	servers[5].Metadata = map[string]string{}
	p := NewPlan(spec(u), servers, func() string { return "r1" })
	var b strings.Builder
	if err := WritePlan(&b, spec(u), p, PlanNotes{Image: "node", Profile: "profile node", Names: map[string]string{"img-A0000000": "base"}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"Rollout of fleet app onto image node (img-B): 6 of 6 servers to do",
		"max_unavailable 40% of 6 servers = 2 (rounded down) -> at most 2 unavailable at once",
		"gates, in order: active",
		"ssh through the bastion, verified against the new host key from the console, tcp 8443 (from inside, over ssh), score >= 80 (profile node)",
		"wiped: each server's root disk",
		"canary       1: app-01\n",
		"batch 2      2: app-02, app-03\n",
		"batch 4      1: app-06\n",
		"volume-backed (the rebuild needs compute API 2.93; Nova shows no image, the marks say): app-06",
		"rollback impossible: the previous image of app-06 is unknown",
		"4 batch(es) one after another",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
}

func TestWriteAudit(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	acts := []Action{
		{ServerID: "1", Server: "app-01", Action: "rebuild", RequestID: "req-1", Start: t0, Finish: t0.Add(10 * time.Second)},
		{ServerID: "2", Server: "app-02", Action: "rebuild", RequestID: "req-2", Start: t0.Add(20 * time.Second), Finish: t0.Add(30 * time.Second)},
		{ServerID: "3", Server: "app-03", Action: "rebuild", RequestID: "req-3", Start: t0.Add(21 * time.Second), Finish: t0.Add(29 * time.Second)},
	}
	var b strings.Builder
	if err := WriteAudit(&b, "app", Audit(acts, time.Minute, t0.Add(time.Hour)), 2); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{"3 rebuild(s), peak 2 down at once at 10:00:21.000 (within the budget of 2)", "app-03", "+21s", "request req-2"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
}
