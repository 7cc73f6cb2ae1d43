package hardening

import (
	"context"
	"errors"
	"sync"
)

// DefaultConcurrency is how many hosts run at once unless told otherwise: enough to keep a
// fleet moving, few enough for one bastion connection's channels and the bastion's sshd
// MaxStartups (10:30:100 by default).
const DefaultConcurrency = 10

// Fleet runs fn on every host with at most concurrency hosts at once. Each host's outcome is
// its own; results come back in the order of hosts. onDone, when set, is called as each host
// finishes (from the worker's goroutine).
func Fleet(ctx context.Context, hosts []Host, concurrency int, fn func(context.Context, Host) HostResult, onDone func(int, HostResult)) []HostResult {
	if concurrency < 1 {
		concurrency = DefaultConcurrency
	}
	results := make([]HostResult, len(hosts))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			// Hosts not started are reported as canceled.
			for j := i; j < len(hosts); j++ {
				results[j] = HostResult{Host: nameOf(hosts[j]), Address: hosts[j].Address, Status: StatusCanceled, Error: ctx.Err().Error()}
			}
			wg.Wait()
			return results
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = fn(ctx, h)
			if onDone != nil {
				onDone(i, results[i])
			}
		}()
	}
	wg.Wait()
	return results
}

// Fleet runs the scanner on every host (see the package function Fleet), pipelined: at most
// concurrency hosts run oscap at once, and up to as many more are connected and loaded ahead,
// so a host that finishes hands its slot to one that is ready to start.
func (s *Scanner) Fleet(ctx context.Context, hosts []Host, concurrency int, onDone func(int, HostResult)) []HostResult {
	if concurrency < 1 {
		concurrency = DefaultConcurrency
	}
	sl := newSlots(concurrency)
	return Fleet(ctx, hosts, 2*concurrency, func(ctx context.Context, h Host) HostResult { return s.runHost(ctx, h, sl) }, onDone)
}

func nameOf(h Host) string {
	if h.Name != "" {
		return h.Name
	}
	return h.Address
}

// hostKeyProblem is satisfied by the SSH layer's host key errors (unknown host, changed key).
type hostKeyProblem interface {
	error
	HostKeyProblem() bool
}

// isHostKeyError reports whether err is a host key verification failure (the SSH layer
// marks every one of them, unknown, changed or revoked).
func isHostKeyError(err error) bool {
	var hk hostKeyProblem
	return errors.As(err, &hk) && hk.HostKeyProblem()
}
