package fanout

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachBoundsAndWaits(t *testing.T) {
	var running, peak, done atomic.Int32
	err := Each(20, 3, nil, func(i int) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		done.Add(1)
		if i%7 == 0 {
			return fmt.Errorf("item %d", i)
		}
		return nil
	})
	if p := peak.Load(); p != 3 {
		t.Errorf("peak %d at once, want 3", p)
	}
	if done.Load() != 20 {
		t.Errorf("Each returned with %d of 20 done", done.Load())
	}
	if err == nil || err.Error() != "item 0\nitem 7\nitem 14" {
		t.Errorf("errors %q, want all three in order", err)
	}
}

// start is asked once a slot is free: a stop decided by a running item is seen by the next.
func TestEachStartSeesWhatHappenedWhileWaiting(t *testing.T) {
	var stop atomic.Bool
	var started []int
	err := Each(5, 1, func(i int) bool {
		if stop.Load() {
			return false
		}
		started = append(started, i) // only this goroutine calls start
		return true
	}, func(i int) error {
		if i == 1 {
			stop.Store(true)
			return errors.New("stop")
		}
		return nil
	})
	if fmt.Sprint(started) != "[0 1]" || err == nil {
		t.Errorf("started %v, err %v; want [0 1] and the error", started, err)
	}
}
