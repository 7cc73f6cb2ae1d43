// Package faultproxy is a reverse proxy for tests that puts faults between hardenctl and a
// real OpenStack cloud on loopback: error statuses before or after the backend processed a
// request, cut bodies, reset connections, slow answers, a token that expires, a list that
// ignores its tag filter.
//
// The proxy listens on 127.0.0.1, one random port per upstream (Keystone, and every service
// Keystone's catalog names). Token responses have their catalog rewritten to the proxy's
// listeners, so a client that authenticates through the proxy sends all its service traffic
// through it. Every request is recorded (method, path, status sent, fault applied).
package faultproxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Phase says when a fault strikes: before forwarding (the backend never sees the request)
// or after (the backend processed it, its answer is replaced).
type Phase int

const (
	Before Phase = iota
	After
)

func (p Phase) String() string {
	if p == After {
		return "after"
	}
	return "before"
}

// Kind is what a fault does.
type Kind int

const (
	// Status answers with Code (and Retry-After, when set) instead of the backend's answer.
	Status Kind = iota + 1
	// Truncate forwards, then sends the headers with the real Content-Length and only the
	// first half of the body, and closes the connection.
	Truncate
	// Reset closes the connection with SO_LINGER 0 (the client reads ECONNRESET) before any
	// header is sent: before forwarding, or after the backend processed the request.
	Reset
	// ResetMidBody forwards, sends the headers and half the body, then resets.
	ResetMidBody
	// Slow waits Delay before forwarding, then answers normally.
	Slow
	// IgnoreTagFilter removes tags and tags-any from the query before forwarding, as a
	// cloud that does not filter by tag would: the backend returns everything.
	IgnoreTagFilter
)

// Fault is one action of a rule.
type Fault struct {
	Kind       Kind
	Code       int    // Status
	RetryAfter string // Status: the Retry-After header (seconds or an HTTP date); "" for none
	Phase      Phase  // Status, Reset
	Delay      time.Duration
	Note       string // names the fault in records and in the error body instead of its kind
}

// StatusBefore answers code without forwarding.
func StatusBefore(code int) Fault { return Fault{Kind: Status, Code: code, Phase: Before} }

// StatusAfter forwards, lets the backend process the request, then answers code.
func StatusAfter(code int) Fault { return Fault{Kind: Status, Code: code, Phase: After} }

// TooManyRequests answers 429 with Retry-After retryAfter ("" for none), without forwarding.
func TooManyRequests(retryAfter string) Fault {
	return Fault{Kind: Status, Code: http.StatusTooManyRequests, RetryAfter: retryAfter, Phase: Before}
}

// Unauthorized answers 401 without forwarding, as Keystone does for an expired token.
func Unauthorized() Fault { return Fault{Kind: Status, Code: http.StatusUnauthorized, Phase: Before} }

// ResetConn resets the connection before any header, before or after forwarding.
func ResetConn(p Phase) Fault { return Fault{Kind: Reset, Phase: p} }

// TruncateBody forwards and sends half the body with the real Content-Length.
func TruncateBody() Fault { return Fault{Kind: Truncate, Phase: After} }

// ResetMidBodyFault forwards, sends half the body, then resets.
func ResetMidBodyFault() Fault { return Fault{Kind: ResetMidBody, Phase: After} }

// SlowResponse waits d before forwarding.
func SlowResponse(d time.Duration) Fault { return Fault{Kind: Slow, Delay: d, Phase: Before} }

// IgnoreTags forwards a list without its tag filter.
func IgnoreTags() Fault { return Fault{Kind: IgnoreTagFilter, Phase: Before} }

func (f Fault) String() string {
	if f.Note != "" {
		return f.Note
	}
	switch f.Kind {
	case Status:
		s := fmt.Sprintf("%d", f.Code)
		if f.RetryAfter != "" {
			s += " Retry-After " + f.RetryAfter
		}
		return s + " " + f.Phase.String()
	case Truncate:
		return "truncated body"
	case Reset:
		return "reset " + f.Phase.String()
	case ResetMidBody:
		return "reset mid-body"
	case Slow:
		return "slow " + f.Delay.String()
	case IgnoreTagFilter:
		return "tag filter ignored"
	}
	return "no fault"
}

// Times says which of a rule's matching requests it strikes. The zero value strikes every one.
type Times struct {
	Nth   int // only the Nth match (1-based)
	First int // the first N matches
}

// Nth strikes the nth matching request only.
func Nth(n int) Times { return Times{Nth: n} }

// FirstN strikes the first n matching requests.
func FirstN(n int) Times { return Times{First: n} }

// Every strikes every matching request.
func Every() Times { return Times{} }

func (t Times) strikes(match int) bool {
	switch {
	case t.Nth > 0:
		return match == t.Nth
	case t.First > 0:
		return match <= t.First
	}
	return true
}

// Rule matches requests and applies a fault to some of them.
type Rule struct {
	Service string // catalog type: "identity", "network", "compute", "image"; "" for any
	Method  string // "" for any
	// Path is a pattern of slash-separated segments: "*" matches one segment, a trailing
	// "**" any rest; "" matches every path. "/v2.0/security-groups/*/tags".
	Path  string
	Query func(url.Values) bool // nil: any query
	// Match, when set, must also hold; it sees the request and its body (already read).
	Match func(r *http.Request, body []byte) bool
	Times Times
	Fault Fault

	matched, fired int // under the proxy's lock
}

func (r *Rule) matches(service string, req *http.Request, body []byte) bool {
	if r.Service != "" && r.Service != service || r.Method != "" && r.Method != req.Method {
		return false
	}
	if r.Path != "" && !pathMatch(r.Path, req.URL.Path) {
		return false
	}
	if r.Query != nil && !r.Query(req.URL.Query()) {
		return false
	}
	return r.Match == nil || r.Match(req, body)
}

func pathMatch(pattern, path string) bool {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	ss := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range ps {
		if p == "**" {
			return true
		}
		if i >= len(ss) || p != "*" && p != ss[i] {
			return false
		}
	}
	return len(ps) == len(ss)
}

// HasTagFilter is a Query predicate: the request filters by tag.
func HasTagFilter(q url.Values) bool { return q.Has("tags") || q.Has("tags-any") }

// Record is one request the proxy received.
type Record struct {
	Seq       int
	Service   string
	Method    string
	Path      string
	Query     string
	Status    int    // status sent to the client; 0 when the connection was reset first
	Upstream  int    // the backend's status; 0 when not forwarded
	Fault     string // "" when none was applied
	Forwarded bool
}

func (r Record) String() string {
	s := fmt.Sprintf("#%d %s %s %s", r.Seq, r.Service, r.Method, r.Path)
	if r.Query != "" {
		s += "?" + r.Query
	}
	s += fmt.Sprintf(" -> %d", r.Status)
	if r.Fault != "" {
		s += fmt.Sprintf(" [%s; backend %d]", r.Fault, r.Upstream)
	}
	return s
}

// Proxy is a running fault proxy.
type Proxy struct {
	identity *upstream
	client   *http.Client

	mu        sync.Mutex
	upstreams map[string]*upstream // by upstream origin ("http://127.0.0.1:9696")
	rules     []*Rule
	records   []Record
	closed    bool
	wg        sync.WaitGroup
}

type upstream struct {
	service string
	origin  *url.URL // the backend
	ln      net.Listener
	srv     *http.Server
	proxy   string // "http://127.0.0.1:PORT"
}

// Start starts a proxy in front of the Keystone at identityURL (an auth_url such as
// http://127.0.0.1:5000/v3). Only loopback upstreams are accepted: the proxy never talks to
// anything off this machine.
func Start(identityURL string) (*Proxy, error) {
	u, err := url.Parse(identityURL)
	if err != nil {
		return nil, fmt.Errorf("identity URL %q: %w", identityURL, err)
	}
	p := &Proxy{upstreams: map[string]*upstream{}, client: &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 16,
			DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	p.identity, err = p.listen("identity", u)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// IdentityURL is identityURL as given to Start, with the proxy's listener as host.
func (p *Proxy) IdentityURL(identityURL string) string {
	return p.rewrite(identityURL)
}

// Listeners returns each service's proxy address ("network" -> "http://127.0.0.1:PORT").
func (p *Proxy) Listeners() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for _, u := range p.upstreams {
		out[u.service] = u.proxy
	}
	return out
}

// Add installs a rule and returns it (for Fired). Rules are tried in the order added; the
// first whose match strikes applies.
func (p *Proxy) Add(r Rule) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	rr := r
	p.rules = append(p.rules, &rr)
	return &rr
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
}

// Fired says how many requests r struck.
func (p *Proxy) Fired(r *Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return r.fired
}

// Records returns the requests received so far, in order.
func (p *Proxy) Records() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Record(nil), p.records...)
}

// ResetRecords forgets the requests received so far.
func (p *Proxy) ResetRecords() {
	p.mu.Lock()
	p.records = nil
	p.mu.Unlock()
}

// Close stops every listener and waits for the handlers.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	ups := make([]*upstream, 0, len(p.upstreams))
	for _, u := range p.upstreams {
		ups = append(ups, u)
	}
	p.mu.Unlock()
	var errs []error
	for _, u := range ups {
		errs = append(errs, u.srv.Close())
	}
	p.wg.Wait()
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listen starts (or finds) the listener for the upstream at u's origin.
func (p *Proxy) listen(service string, u *url.URL) (*upstream, error) {
	if u.Scheme != "http" {
		return nil, fmt.Errorf("upstream %s: only http upstreams are proxied", u.Redacted())
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("upstream %s: not on loopback; the fault proxy talks to 127.0.0.0/8 only", u.Redacted())
	}
	origin := u.Scheme + "://" + u.Host
	p.mu.Lock()
	defer p.mu.Unlock()
	if up := p.upstreams[origin]; up != nil {
		return up, nil
	}
	if p.closed {
		return nil, errors.New("fault proxy closed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for %s: %w", service, err)
	}
	up := &upstream{service: service, origin: &url.URL{Scheme: u.Scheme, Host: u.Host}, ln: ln, proxy: "http://" + ln.Addr().String()}
	up.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(up, w, r) }),
		ReadHeaderTimeout: 30 * time.Second}
	p.upstreams[origin] = up
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		up.srv.Serve(ln)
	}()
	return up, nil
}

// strike finds the fault for req, counting matches, and records nothing yet.
func (p *Proxy) strike(service string, req *http.Request, body []byte) *Fault {
	p.mu.Lock()
	rules := append([]*Rule(nil), p.rules...)
	p.mu.Unlock()
	for _, r := range rules {
		// Match may be slow (it may ask the cloud): it runs without the lock.
		if !r.matches(service, req, body) {
			continue
		}
		p.mu.Lock()
		r.matched++
		strikes := r.Times.strikes(r.matched)
		if strikes {
			r.fired++
		}
		p.mu.Unlock()
		if strikes {
			f := r.Fault
			return &f
		}
	}
	return nil
}

func (p *Proxy) record(rec Record) {
	p.mu.Lock()
	rec.Seq = len(p.records) + 1
	p.records = append(p.records, rec)
	p.mu.Unlock()
}

// hopHeaders are not forwarded (RFC 9110 7.6.1), nor is Accept-Encoding: bodies are
// rewritten, so they travel uncompressed.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Accept-Encoding"}

func (p *Proxy) serve(up *upstream, w http.ResponseWriter, r *http.Request) {
	rec := Record{Service: up.service, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		p.record(rec)
		return
	}
	defer func() { p.record(rec) }()
	fault := p.strike(up.service, r, body)
	if fault != nil {
		rec.Fault = fault.String()
	}

	if fault != nil && fault.Phase == Before {
		switch fault.Kind {
		case Status:
			rec.Status = fault.Code
			writeStatus(w, *fault)
			return
		case Reset:
			reset(w)
			return
		case Slow:
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
	}

	q := r.URL.Query()
	if fault != nil && fault.Kind == IgnoreTagFilter {
		q.Del("tags")
		q.Del("tags-any")
	}
	out := *up.origin
	out.Path = r.URL.Path
	out.RawQuery = r.URL.RawQuery
	if fault != nil && fault.Kind == IgnoreTagFilter {
		out.RawQuery = q.Encode()
	}
	freq, err := http.NewRequestWithContext(r.Context(), r.Method, out.String(), bytes.NewReader(body))
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	freq.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		freq.Header.Del(h)
	}
	freq.ContentLength = int64(len(body))
	resp, err := p.client.Do(freq)
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "fault proxy: backend: "+err.Error(), http.StatusBadGateway)
		return
	}
	rec.Forwarded, rec.Upstream = true, resp.StatusCode
	rbody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "fault proxy: backend body: "+err.Error(), http.StatusBadGateway)
		return
	}
	rbody = p.rewriteBody(up, rbody)
	hdr := resp.Header.Clone()
	for _, h := range hopHeaders {
		hdr.Del(h)
	}
	hdr.Del("Content-Length")
	for _, h := range []string{"Location", "Content-Location"} {
		if v := hdr.Get(h); v != "" {
			hdr.Set(h, p.rewrite(v))
		}
	}

	if fault != nil && fault.Phase == After {
		switch fault.Kind {
		case Status:
			rec.Status = fault.Code
			writeStatus(w, *fault)
			return
		case Reset:
			reset(w)
			return
		case Truncate, ResetMidBody:
			rec.Status = resp.StatusCode
			writeCut(w, resp.StatusCode, hdr, rbody, fault.Kind == ResetMidBody)
			return
		}
	}
	rec.Status = resp.StatusCode
	for k, vs := range hdr {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(rbody)))
	w.WriteHeader(resp.StatusCode)
	w.Write(rbody)
}

// writeStatus answers f's status with a body in the style of the OpenStack services.
func writeStatus(w http.ResponseWriter, f Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	msg := fmt.Sprintf("injected by faultproxy: %s", f)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": f.Code, "title": http.StatusText(f.Code), "message": msg}})
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(f.Code)
	w.Write(b)
}

// reset hijacks the connection and closes it with SO_LINGER 0: the peer gets a RST.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// writeCut sends the status line, the headers with the full body's Content-Length and half
// the body, then closes the connection (with a reset when rst).
func writeCut(w http.ResponseWriter, code int, hdr http.Header, body []byte, rst bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
	hdr = hdr.Clone()
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	hdr.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(body[:len(body)/2])
	bw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		if rst {
			time.Sleep(10 * time.Millisecond) // let the partial body leave first
			tc.SetLinger(0)
		} else {
			tc.CloseWrite()
		}
	}
	conn.Close()
}

var urlRE = regexp.MustCompile(`https?:(?:\\?/){2}[A-Za-z0-9.\-\[\]:]+`)

// rewriteBody, for a JSON answer, starts listeners for the services a token's catalog names
// and replaces every backend origin in the body with its proxy listener.
func (p *Proxy) rewriteBody(up *upstream, body []byte) []byte {
	if len(body) == 0 {
		return body
	}
	if up.service == "identity" {
		p.catalog(body)
	}
	return urlRE.ReplaceAllFunc(body, func(m []byte) []byte {
		return []byte(p.rewrite(string(m)))
	})
}

// catalog starts a listener for every loopback endpoint of a token's catalog.
func (p *Proxy) catalog(body []byte) {
	var doc struct {
		Token struct {
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					URL string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return
	}
	for _, s := range doc.Token.Catalog {
		for _, e := range s.Endpoints {
			if u, err := url.Parse(e.URL); err == nil && u.Scheme == "http" && isLoopback(u.Hostname()) {
				p.listen(s.Type, u)
			}
		}
	}
}

// rewrite replaces a backend origin at the start of s (a URL, possibly with JSON-escaped
// slashes) by its proxy listener; other strings are returned unchanged.
func (p *Proxy) rewrite(s string) string {
	plain := strings.ReplaceAll(s, `\/`, `/`)
	escaped := plain != s
	p.mu.Lock()
	origins := make([]string, 0, len(p.upstreams))
	for o := range p.upstreams {
		origins = append(origins, o)
	}
	sort.Slice(origins, func(i, j int) bool { return len(origins[i]) > len(origins[j]) })
	for _, o := range origins {
		if plain == o || strings.HasPrefix(plain, o+"/") {
			plain = p.upstreams[o].proxy + plain[len(o):]
			p.mu.Unlock()
			if escaped {
				return strings.ReplaceAll(plain, "/", `\/`)
			}
			return plain
		}
	}
	p.mu.Unlock()
	return s
}
