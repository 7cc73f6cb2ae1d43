package rollout

import (
	"context"
	"testing"
	"time"
)

func TestAuditPeakAndRollouts(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	acts := []Action{
		// rollout 1: a canary, then two at once, then a rebuild that starts as another ends
		{ServerID: "1", Server: "a", Action: "rebuild", RequestID: "r1", Start: at(0), Finish: at(10)},
		{ServerID: "2", Server: "b", Action: "rebuild", RequestID: "r2", Start: at(20), Finish: at(30)},
		{ServerID: "3", Server: "c", Action: "rebuild", RequestID: "r3", Start: at(22), Finish: at(35)},
		{ServerID: "4", Server: "d", Action: "rebuild", RequestID: "r4", Start: at(35), Finish: at(40)},
		{ServerID: "1", Server: "a", Action: "reboot", Start: at(21), Finish: at(50)}, // not ours to count
		// rollout 2, an hour later, one still running
		{ServerID: "1", Server: "a", Action: "rebuild", RequestID: "r5", Start: at(3600), Finish: at(3610)},
		{ServerID: "2", Server: "b", Action: "rebuild", RequestID: "r6", Start: at(3605)},
	}
	got := Audit(acts, 10*time.Minute, at(3620))
	if len(got) != 2 {
		t.Fatalf("%d rollouts, want 2: %+v", len(got), got)
	}
	if r := got[0]; r.Peak != 2 || !r.PeakAt.Equal(at(22)) || len(r.Downs) != 4 || !r.Start.Equal(at(0)) || !r.End.Equal(at(40)) {
		t.Errorf("rollout 1: peak %d at %v, %d downs, %v..%v", r.Peak, r.PeakAt, len(r.Downs), r.Start, r.End)
	}
	if r := got[1]; r.Peak != 2 || !r.Downs[1].Open || !r.Downs[1].End.Equal(at(3620)) {
		t.Errorf("rollout 2: %+v", r)
	}
	// one server rebuilt twice in overlapping records counts once
	dup := []Action{
		{ServerID: "1", Action: "rebuild", Start: at(0), Finish: at(10)},
		{ServerID: "1", Action: "rebuild", Start: at(5), Finish: at(15)},
	}
	if r := Audit(dup, time.Minute, at(100)); r[0].Peak != 1 {
		t.Errorf("one server counted %d times", r[0].Peak)
	}
}

// After a rollout, Nova's own records (the fake's instance actions) show at most the budget
// down at once.
func TestAuditOfARollout(t *testing.T) {
	f := newFakeNova(t, 8, "img-A", 3)
	f.addImage("img-B")
	f.rebuildTime = func(string) time.Duration { return 20 * time.Millisecond }
	if _, err := run(t, f, newFakeGate(f), upgrade(3), nil, nil); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAudit(context.Background(), f, nil, time.Minute, time.Now())
	if err != nil || len(got) != 1 {
		t.Fatalf("audit: %v %+v", err, got)
	}
	if got[0].Peak < 2 || got[0].Peak > 3 || len(got[0].Downs) != 8 {
		t.Errorf("audit peak %d (want 2 or 3, never above the budget of 3), %d downs", got[0].Peak, len(got[0].Downs))
	}
}
