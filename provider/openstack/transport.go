package openstack

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// retryTransport retries requests the cloud could not serve right now: 429 and 503 for every
// method (the request was not processed), and 500, 502 and 504 for idempotent methods only
// (a POST that failed with 500 may have been done). Retry-After is honoured (seconds or an
// HTTP date); otherwise the wait doubles from base up to max, with jitter.
type retryTransport struct {
	next     http.RoundTripper
	attempts int
	base     time.Duration
	max      time.Duration
	logger   *slog.Logger
	sleep    func(context.Context, time.Duration) error // replaced in tests
}

func newRetryTransport(next http.RoundTripper, logger *slog.Logger) *retryTransport {
	return &retryTransport{next: next, attempts: 6, base: 500 * time.Millisecond, max: 20 * time.Second,
		logger: logger, sleep: sleepCtx}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err != nil || attempt >= t.attempts || !t.retryable(req.Method, resp.StatusCode) {
			return resp, err
		}
		if req.Body != nil && req.GetBody == nil {
			return resp, nil // the body cannot be sent again
		}
		wait := t.backoff(attempt, resp.Header.Get("Retry-After"))
		t.logger.Warn("cloud asked to retry", "method", req.Method, "url", req.URL.Redacted(),
			"status", resp.StatusCode, "attempt", attempt, "wait", wait)
		resp.Body.Close()
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

func (t *retryTransport) retryable(method string, code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return method == http.MethodGet || method == http.MethodHead || method == http.MethodPut || method == http.MethodDelete
	}
	return false
}

func (t *retryTransport) backoff(attempt int, retryAfter string) time.Duration {
	if retryAfter != "" {
		if s, err := strconv.Atoi(retryAfter); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, t.max)
		}
		if at, err := http.ParseTime(retryAfter); err == nil {
			return min(max(time.Until(at), 0), t.max)
		}
	}
	d := t.base << (attempt - 1)
	if d > t.max || d <= 0 {
		d = t.max
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// CountingTransport counts the requests that reach the cloud, per host:port, for benchmarks
// and tests that hold hardenctl to its request budget.
type CountingTransport struct {
	Next   http.RoundTripper
	mu     sync.Mutex
	n      map[string]int
	routes map[string]int
}

// RoundTrip counts the request and passes it on.
func (c *CountingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n, c.routes = map[string]int{}, map[string]int{}
	}
	c.n[req.URL.Host]++
	c.routes[route(req)]++
	c.mu.Unlock()
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

// Count returns the requests sent to host (host:port) so far.
func (c *CountingTransport) Count(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[host]
}

// Route returns the requests sent so far to one route: a method and a path whose id
// segments read {id}, like "POST /v2.0/security-group-rules" or
// "DELETE /v2.0/security-group-rules/{id}".
func (c *CountingTransport) Route(r string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routes[r]
}

// Reset forgets all counts.
func (c *CountingTransport) Reset() {
	c.mu.Lock()
	c.n, c.routes = nil, nil
	c.mu.Unlock()
}

func route(req *http.Request) string {
	segs := strings.Split(req.URL.Path, "/")
	for i, s := range segs {
		if len(s) >= 32 && strings.Count(s, "-") >= 4 || len(s) == 32 && strings.Trim(s, "0123456789abcdef") == "" {
			segs[i] = "{id}"
		}
	}
	return req.Method + " " + strings.Join(segs, "/")
}
