package openstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// retryTransport retries requests the cloud could not serve right now.
//
// By status: 429 for every method (a rate limiter refused the request before it was
// processed), and 500, 502, 503 and 504 for idempotent requests only: a POST that failed with
// one of them may have been done (a 503 from a proxy after the service created the group),
// and sending it again would make a second group.
// Retry-After is honoured (seconds or an HTTP date) up to maxRetryAfter; a longer one fails
// at once with an error naming the wait. Otherwise the wait doubles from base up to max,
// with jitter.
//
// By transport error (connection refused or reset, EOF before or in the headers, a body cut
// short, no answer within the attempt's timeout): idempotent requests are sent again; a
// POST only when it certainly never left (the dial failed), never once it was written.
//
// Each attempt has its own deadline (attemptTimeout) covering the headers and the body,
// which is read in full here (up to maxBuffer) so that a cut body is retried like any other
// transport error. The waits between attempts count against no attempt; the caller's
// context bounds everything.
type retryTransport struct {
	next           http.RoundTripper
	attempts       int
	base           time.Duration
	max            time.Duration // longest computed backoff
	maxRetryAfter  time.Duration // longest Retry-After honoured
	attemptTimeout time.Duration // 0: none
	maxBuffer      int64         // bodies up to this size are read within the attempt
	logger         *slog.Logger
	sleep          func(context.Context, time.Duration) error // replaced in tests
}

func newRetryTransport(next http.RoundTripper, logger *slog.Logger) *retryTransport {
	return &retryTransport{next: next, attempts: 6, base: 500 * time.Millisecond, max: 20 * time.Second,
		maxRetryAfter: 60 * time.Second, attemptTimeout: 60 * time.Second, maxBuffer: 64 << 20,
		logger: logger, sleep: sleepCtx}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		resp, err := t.try(req)
		last := attempt >= t.attempts
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
			if last || !t.mayResend(req, err) {
				return nil, t.explain(req, err, attempt)
			}
			wait = t.backoff(attempt)
			t.logger.Warn("request failed; sending it again", "method", req.Method, "url", req.URL.Redacted(),
				"error", err, "attempt", attempt, "wait", wait)
		case last || !t.retryable(req, resp.StatusCode):
			return resp, nil
		case !rewindable(req):
			return resp, nil // the body cannot be sent again
		default:
			resp.Body.Close()
			if wait, err = t.retryWait(req, resp, attempt); err != nil {
				return nil, err
			}
			t.logger.Warn("cloud asked to retry", "method", req.Method, "url", req.URL.Redacted(),
				"status", resp.StatusCode, "attempt", attempt, "wait", wait)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("would wait %s before attempt %d, past the deadline (%s from now): %w",
				wait.Round(time.Millisecond), attempt+1, time.Until(dl).Round(time.Millisecond), context.DeadlineExceeded)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
	}
}

// try sends req once under its own deadline and reads the body (when small enough) before
// the deadline is released.
func (t *retryTransport) try(req *http.Request) (*http.Response, error) {
	ctx, cancel := req.Context(), context.CancelFunc(func() {})
	if t.attemptTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, t.attemptTimeout)
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, t.timedOut(req, ctx, err)
	}
	if resp.ContentLength > t.maxBuffer || resp.Body == nil || resp.Body == http.NoBody {
		resp.Body = &cancelOnClose{ReadCloser: orNoBody(resp.Body), cancel: cancel}
		return resp, nil
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, t.maxBuffer+1))
	if err != nil {
		resp.Body.Close()
		cancel()
		return nil, &cutBodyError{status: resp.StatusCode, read: len(buf), length: resp.ContentLength, err: t.timedOut(req, ctx, err)}
	}
	if int64(len(buf)) > t.maxBuffer { // longer than announced (chunked): stream the rest
		resp.Body = &cancelOnClose{ReadCloser: readCloser{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}, cancel: cancel}
		return resp, nil
	}
	resp.Body.Close()
	cancel()
	resp.Body = io.NopCloser(bytes.NewReader(buf))
	resp.ContentLength = int64(len(buf))
	return resp, nil
}

// timedOut names the attempt's timeout when it, and not the caller's context, ended err.
func (t *retryTransport) timedOut(req *http.Request, attemptCtx context.Context, err error) error {
	if req.Context().Err() == nil && errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
		return &attemptTimeoutError{timeout: t.attemptTimeout, err: err}
	}
	return err
}

// mayResend reports whether req may be sent again after the transport error err.
func (t *retryTransport) mayResend(req *http.Request, err error) bool {
	if !rewindable(req) {
		return false
	}
	return idempotent(req) || neverSent(err)
}

// explain turns a final transport error into one that says what became of the request
// (http.Client names the method and URL in front of it).
func (t *retryTransport) explain(req *http.Request, err error, attempts int) error {
	var cut *cutBodyError
	switch {
	case !idempotent(req) && errors.As(err, &cut):
		return fmt.Errorf("the cloud answered %d but the %w; the request may have been carried out: not sent again", cut.status, err)
	case !idempotent(req) && !neverSent(err):
		return fmt.Errorf("%w; the request may have reached the cloud: not sent again", err)
	case attempts > 1:
		return fmt.Errorf("%w (after %d attempts)", err, attempts)
	}
	return err
}

func (t *retryTransport) retryable(req *http.Request, code int) bool {
	switch code {
	case http.StatusTooManyRequests:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent(req)
	}
	return false
}

// retryWait is the wait before sending req again after resp: its Retry-After when given
// (an error when longer than maxRetryAfter), else the backoff.
func (t *retryTransport) retryWait(req *http.Request, resp *http.Response, attempt int) (time.Duration, error) {
	ra := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if ra == "" {
		return t.backoff(attempt), nil
	}
	wait := time.Duration(-1)
	if s, err := strconv.ParseInt(ra, 10, 64); err == nil && s >= 0 {
		wait = t.maxRetryAfter + time.Second
		if s <= int64(t.maxRetryAfter/time.Second) {
			wait = time.Duration(s) * time.Second
		}
	} else if at, err := http.ParseTime(ra); err == nil {
		wait = max(time.Until(at), 0).Round(time.Second)
	}
	switch {
	case wait < 0:
		return t.backoff(attempt), nil // unreadable: our own backoff
	case wait > t.maxRetryAfter:
		return 0, &RetryAfterError{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode, RetryAfter: ra, Max: t.maxRetryAfter}
	}
	return wait, nil
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.base << (attempt - 1)
	if d > t.max || d <= 0 {
		d = t.max
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// RetryAfterError says the cloud asked for a longer pause than hardenctl waits (the
// http.Client error around it names the method and URL).
type RetryAfterError struct {
	Method, URL string
	Status      int
	RetryAfter  string // the header as sent: seconds or an HTTP date
	Max         time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("the cloud answered %d %s and asks to retry after %q (Retry-After), longer than the %s hardenctl waits; nothing more was sent, try again later",
		e.Status, http.StatusText(e.Status), e.RetryAfter, e.Max)
}

// attemptTimeoutError is one attempt that got no complete answer in time.
type attemptTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("no complete answer within %s: %v", e.timeout, e.err)
}
func (e *attemptTimeoutError) Unwrap() error { return e.err }

// cutBodyError is a response whose body ended (or broke) before its end.
type cutBodyError struct {
	status int
	read   int
	length int64 // -1: not announced
	err    error
}

func (e *cutBodyError) Error() string {
	if e.length >= 0 {
		return fmt.Sprintf("response body was cut after %d of %d bytes: %v", e.read, e.length, e.err)
	}
	return fmt.Sprintf("response body was cut after %d bytes: %v", e.read, e.err)
}
func (e *cutBodyError) Unwrap() error { return e.err }

// idempotent reports whether sending req twice does what sending it once does: GET, HEAD,
// OPTIONS, PUT, DELETE, and Keystone's token issue (a second token is harmless).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	case http.MethodPost:
		return strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/auth/tokens")
	}
	return false
}

// neverSent reports whether err says the request never left: the connection could not be
// made (refused, unreachable, DNS, dial timeout).
func neverSent(err error) bool {
	var cut *cutBodyError
	if errors.As(err, &cut) {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func orNoBody(b io.ReadCloser) io.ReadCloser {
	if b == nil {
		return http.NoBody
	}
	return b
}

// cancelOnClose releases an attempt's deadline when its streamed body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

type readCloser struct {
	io.Reader
	io.Closer
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
