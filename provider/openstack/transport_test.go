package openstack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Unit tests of the retry transport's error paths against httptest servers (fakes: the
// integration suite's fault proxy puts the same faults in front of the real cloud).

// transportClient is an http.Client built as New builds it, with the waits recorded
// instead of slept (unless sleep is given).
func transportClient(t *testing.T, attemptTimeout time.Duration, sleep func(context.Context, time.Duration) error) (*http.Client, *[]time.Duration) {
	t.Helper()
	c := httpClient(http.DefaultTransport.(*http.Transport).Clone(), slog.New(slog.DiscardHandler), attemptTimeout)
	rt := c.Transport.(*retryTransport)
	var mu sync.Mutex
	waits := &[]time.Duration{}
	rt.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		if sleep != nil {
			return sleep(ctx, d)
		}
		return ctx.Err()
	}
	return &c, waits
}

// reset closes the request's connection with SO_LINGER 0: the client reads ECONNRESET.
func reset(t *testing.T, w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// rawClose hijacks the connection, writes raw bytes and closes it.
func rawClose(t *testing.T, w http.ResponseWriter, raw string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	buf.WriteString(raw)
	buf.Flush()
	conn.Close()
}

func send(t *testing.T, c *http.Client, method, url, body string) (int, string, error) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestRetryAfterLongerThanTheOldCapIsHonoured(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c, waits := transportClient(t, 0, nil)
	code, body, err := send(t, c, "POST", srv.URL+"/v2.0/security-groups", `{"a":1}`)
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("after two 429 Retry-After: 30: code %d body %q err %v", code, body, err)
	}
	if len(*waits) != 2 || (*waits)[0] != 30*time.Second || (*waits)[1] != 30*time.Second {
		t.Errorf("waits %v, want two of 30s", *waits)
	}
}

func TestRetryAfterBeyondTheBoundFailsNamingTheWait(t *testing.T) {
	for _, ra := range []string{"300", time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat)} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		c, waits := transportClient(t, 0, nil)
		_, _, err := send(t, c, "GET", srv.URL+"/v2.0/security-groups", "")
		srv.Close()
		var rae *RetryAfterError
		if !errors.As(err, &rae) || !strings.Contains(err.Error(), ra) || !strings.Contains(err.Error(), "longer than the 1m0s hardenctl waits") {
			t.Errorf("Retry-After %q: err = %v; want a RetryAfterError naming the wait", ra, err)
		}
		if calls.Load() != 1 || len(*waits) != 0 {
			t.Errorf("Retry-After %q: %d requests, waits %v; want 1 request and no wait", ra, calls.Load(), *waits)
		}
	}
}

func TestRetryAfterAsHTTPDate(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", time.Now().Add(45*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c, waits := transportClient(t, 0, nil)
	if code, _, err := send(t, c, "DELETE", srv.URL+"/v2.0/security-group-rules/x", ""); err != nil || code != 200 {
		t.Fatalf("code %d err %v", code, err)
	}
	if len(*waits) != 1 || (*waits)[0] < 43*time.Second || (*waits)[0] > 46*time.Second {
		t.Errorf("waits %v, want one of about 45s", *waits)
	}
}

// The waits between attempts are not cut by any client-level timeout: three attempts of
// 150 ms each with 200 ms waits take longer than one attempt's 300 ms timeout, and succeed.
func TestAttemptTimeoutExcludesTheWaits(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c, _ := transportClient(t, 300*time.Millisecond, func(ctx context.Context, d time.Duration) error {
		return sleepCtx(ctx, 200*time.Millisecond)
	})
	start := time.Now()
	if code, _, err := send(t, c, "GET", srv.URL+"/", ""); err != nil || code != 200 {
		t.Fatalf("code %d err %v", code, err)
	}
	if el := time.Since(start); el < 800*time.Millisecond {
		t.Errorf("took %s; the test needs more than one attempt's timeout to mean anything", el)
	}
}

func TestAttemptTimeoutRetriesGetNotPost(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // then the server notices the client leaving
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c, _ := transportClient(t, 200*time.Millisecond, nil)
	if code, _, err := send(t, c, "GET", srv.URL+"/", ""); err != nil || code != 200 || calls.Load() != 2 {
		t.Fatalf("GET after one hung attempt: code %d err %v, %d requests", code, err, calls.Load())
	}
	calls.Store(0)
	_, _, err := send(t, c, "POST", srv.URL+"/v2.0/security-groups", `{}`)
	if err == nil || !strings.Contains(err.Error(), "no complete answer within 200ms") || !strings.Contains(err.Error(), "not sent again") || calls.Load() != 1 {
		t.Errorf("POST that hung: err %v, %d requests; want a timeout error and 1 request", err, calls.Load())
	}
}

// A body that hangs after the headers counts against the attempt too.
func TestAttemptTimeoutCoversTheBody(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "0123456789")
	}))
	defer srv.Close()
	c, _ := transportClient(t, 200*time.Millisecond, nil)
	if code, body, err := send(t, c, "GET", srv.URL+"/", ""); err != nil || code != 200 || body != "0123456789" {
		t.Fatalf("code %d body %q err %v", code, body, err)
	}
}

func TestTransportErrorsRetriedForIdempotentMethods(t *testing.T) {
	faults := map[string]func(t *testing.T, w http.ResponseWriter){
		"reset before headers": reset,
		"EOF before headers":   func(t *testing.T, w http.ResponseWriter) { rawClose(t, w, "") },
		"EOF mid-headers":      func(t *testing.T, w http.ResponseWriter) { rawClose(t, w, "HTTP/1.1 200 OK\r\nContent-Ty") },
		"truncated body": func(t *testing.T, w http.ResponseWriter) {
			rawClose(t, w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"security_gr")
		},
		"reset mid-body": func(t *testing.T, w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"security_gr`)
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
			reset(t, w)
		},
	}
	for name, fault := range faults {
		for _, method := range []string{"GET", "PUT", "DELETE", "POST"} {
			t.Run(name+"/"+method, func(t *testing.T) {
				var calls atomic.Int32
				var bodies []string
				var mu sync.Mutex
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					bodies = append(bodies, string(b))
					mu.Unlock()
					if calls.Add(1) == 1 {
						fault(t, w)
						return
					}
					io.WriteString(w, "ok")
				}))
				defer srv.Close()
				c, waits := transportClient(t, 0, nil)
				body := ""
				if method != "GET" && method != "DELETE" {
					body = `{"tags": ["managed-by:hardenctl"]}`
				}
				code, got, err := send(t, c, method, srv.URL+"/v2.0/security-groups/x", body)
				if method == "POST" {
					if err == nil || calls.Load() != 1 || !strings.Contains(err.Error(), "not sent again") {
						t.Errorf("POST: code %d err %v, %d requests; want an error saying it was not sent again, and 1 request", code, err, calls.Load())
					}
					return
				}
				if err != nil || code != 200 || got != "ok" || calls.Load() != 2 || len(*waits) != 1 {
					t.Fatalf("code %d body %q err %v, %d requests, waits %v; want ok after 2 requests", code, got, err, calls.Load(), *waits)
				}
				if bodies[0] != body || bodies[1] != body {
					t.Errorf("bodies sent %q, want %q twice", bodies, body)
				}
			})
		}
	}
}

// dialFailOnce fails the first request as a refused connection does, and sends the others.
type dialFailOnce struct {
	next  http.RoundTripper
	calls atomic.Int32
}

func (d *dialFailOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	if d.calls.Add(1) == 1 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := l.Addr().String()
		l.Close()
		_, err = net.Dial("tcp", addr) // a real "connection refused"
		if err == nil {
			return nil, errors.New("dial of a closed port succeeded")
		}
		return nil, err
	}
	return d.next.RoundTrip(req)
}

func TestPostRetriedWhenTheDialFailed(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "created")
	}))
	defer srv.Close()
	c, _ := transportClient(t, 0, nil)
	rt := c.Transport.(*retryTransport)
	d := &dialFailOnce{next: rt.next}
	rt.next = d
	code, body, err := send(t, c, "POST", srv.URL+"/v2.0/security-groups", `{}`)
	if err != nil || code != 200 || body != "created" || calls.Load() != 1 || d.calls.Load() != 2 {
		t.Errorf("POST after a refused connection: code %d body %q err %v; server saw %d, transport sent %d; want 1 and 2",
			code, body, err, calls.Load(), d.calls.Load())
	}
}

func TestTokenPostIsRetriedAfterReset(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			reset(t, w)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c, _ := transportClient(t, 0, nil)
	if code, _, err := send(t, c, "POST", srv.URL+"/v3/auth/tokens", `{"auth":{}}`); err != nil || code != 201 {
		t.Errorf("token POST after a reset: code %d err %v", code, err)
	}
}

func TestGiveUpAfterTheAttempts(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		reset(t, w)
	}))
	defer srv.Close()
	c, waits := transportClient(t, 0, nil)
	_, _, err := send(t, c, "GET", srv.URL+"/", "")
	if err == nil || !strings.Contains(err.Error(), "after 6 attempts") || calls.Load() != 6 || len(*waits) != 5 {
		t.Errorf("err %v, %d requests, waits %v; want an error after 6 attempts", err, calls.Load(), *waits)
	}
}

func TestCallerContextBoundsTheWaits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "50")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c, waits := transportClient(t, 0, sleepCtx)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	start := time.Now()
	_, err := c.Do(req)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "would wait 50s") || time.Since(start) > time.Second {
		t.Errorf("err %v after %s (waits %v); want at once an error naming the 50s wait past the deadline", err, time.Since(start), *waits)
	}
	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Errorf("cancelled during the wait: err %v after %s", err, time.Since(start))
	}
}

// A POST that failed with 503 may have been carried out (a proxy's 503 after the service
// created the group): it is not sent again, or a second group would be made. 429 is.
func TestPostNotRetriedAfter503(t *testing.T) {
	for code, want := range map[int]int32{503: 1, 500: 1, 502: 1, 504: 1, 429: 2} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			if calls.Add(1) == 1 {
				w.WriteHeader(code)
				return
			}
			w.WriteHeader(http.StatusCreated)
		}))
		c, _ := transportClient(t, 0, nil)
		got, _, err := send(t, c, "POST", srv.URL+"/v2.0/security-groups", `{"security_group": {"name": "a"}}`)
		srv.Close()
		if err != nil || calls.Load() != want {
			t.Errorf("POST after %d: status %d err %v, sent %d times; want %d", code, got, err, calls.Load(), want)
		}
	}
}
