// Package fanout is the one bounded fan-out of hardenctl's engines: apply's groups and
// servers and the scanner's hosts run through it. It exists (instead of errgroup) because
// the engines need every error, not the first, and must decide whether to start each item
// only once a slot is free, so that a cancellation or a hook's Halt that came while they
// waited is seen.
package fanout

import (
	"errors"
	"sync"
)

// Each runs fn(i) for i in [0, n), in order of i, at most limit at once (limit < 1 means 1).
// Before item i starts, once a slot is free for it, start(i) (nil: always) decides whether
// it runs; an item it refuses is skipped and the next is asked. Each returns only when every
// fn it started has returned, with their errors joined in the order of i.
func Each(n, limit int, start func(i int) bool, fn func(i int) error) error {
	if limit < 1 {
		limit = 1
	}
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		if start != nil && !start(i) {
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
