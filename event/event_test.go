package event

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func samples() []Event {
	score := 87.5
	return []Event{
		{Kind: KindSecurityGroup, Address: "sample-app", Action: "create", Phase: Start},
		{Kind: KindSecurityGroup, Address: "sample-app", Action: "create rules", Phase: End, Count: 7, Elapsed: 412 * time.Millisecond},
		{Kind: KindServer, Address: "app-1", Action: "boot", Phase: End, Elapsed: 3 * time.Second, Err: errors.New("create server app-1: quota exceeded")},
		{Kind: KindImage, Address: "debian12-node", Action: "harden and scan", Phase: Start},
		{Kind: KindHost, Address: "app-2", Action: "scan", Phase: End, Elapsed: 12340 * time.Millisecond, Score: &score, Status: "passed"},
		{Kind: KindRollout, Address: "app", Phase: Info, Message: "budget 1 of 4 (max_unavailable 25%)"},
		{Kind: KindHost, Address: "app-3", Action: "scan", Phase: End, Elapsed: 20 * time.Second, Status: "unreachable", Err: errors.New("connect: dial tcp 10.0.0.3:22: i/o timeout")},
		{Kind: KindHost, Address: "app-4", Action: "scan", Phase: Info, Status: "skipped", Message: "not started"},
	}
}

func TestJSONLines(t *testing.T) {
	var b bytes.Buffer
	p := &JSON{W: &b, Now: func() time.Time { return time.Date(2026, 12, 1, 23, 59, 0, 5e6, time.UTC) }}
	for _, e := range samples() {
		p.Event(e)
	}
	golden(t, b.Bytes())
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	p := &Text{W: &b}
	for _, e := range samples() {
		p.Event(e)
	}
	golden(t, b.Bytes())
}

func TestGateHaltsBetweenUnits(t *testing.T) {
	var seen []Event
	n := 0
	g := NewGate(Func(func(e Event) Action {
		seen = append(seen, e)
		if e.Phase == End {
			n++
			if n == 2 {
				return Halt
			}
		}
		return Continue
	}))
	ran := 0
	for i := 0; i < 4; i++ {
		err := g.Run(Event{Kind: KindServer, Address: "s", Action: "boot"}, func() error { ran++; return nil })
		if i >= 2 && !errors.Is(err, ErrHalted) {
			t.Errorf("unit %d: err %v, want ErrHalted", i, err)
		}
	}
	if ran != 2 || len(seen) != 4 || !g.Halted() {
		t.Errorf("ran %d units, saw %d events, halted %v; want 2, 4, true", ran, len(seen), g.Halted())
	}
}

func TestGateHaltOnStartSkipsTheUnit(t *testing.T) {
	var ends []Event
	g := NewGate(Func(func(e Event) Action {
		if e.Phase == End {
			ends = append(ends, e)
			return Continue
		}
		return Halt
	}))
	err := g.Run(Event{Kind: KindImage, Address: "node", Action: "snapshot"}, func() error { t.Fatal("ran after Halt"); return nil })
	if !errors.Is(err, ErrHalted) || len(ends) != 1 || ends[0].Status != "halted" {
		t.Errorf("err %v, ends %+v", err, ends)
	}
}

func TestMultiHaltsIfAnyHalts(t *testing.T) {
	var got int
	h := Multi(nil, Observe(func(Event) { got++ }), Func(func(Event) Action { return Halt }), Nop)
	if h.Event(Event{}) != Halt || got != 1 {
		t.Errorf("Multi: action or fan-out wrong (got %d)", got)
	}
	if OrNop(nil).Event(Event{}) != Continue {
		t.Error("OrNop(nil) halts")
	}
}
