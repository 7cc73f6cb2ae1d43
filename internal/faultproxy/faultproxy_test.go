package faultproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// bed is a fake Keystone and a fake Neutron (httptest) behind a proxy.
type bed struct {
	proxy    *Proxy
	keystone *httptest.Server
	neutron  *httptest.Server
	mu       sync.Mutex
	seen     []string // requests that reached the fake Neutron: "METHOD path?query"
	client   *http.Client
}

func newBed(t *testing.T) *bed {
	t.Helper()
	b := &bed{client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}}
	b.neutron = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		b.mu.Lock()
		b.seen = append(b.seen, r.Method+" "+r.URL.RequestURI())
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.Header().Set("Location", b.neutron.URL+"/v2.0/security-groups/g1")
			w.WriteHeader(http.StatusCreated)
		}
		io.WriteString(w, `{"security_groups": [{"id": "g1", "name": "a-dmz"}, {"id": "g2", "name": "a-app"}], "security_groups_links": [{"rel": "next", "href": "`+b.neutron.URL+`/v2.0/security-groups?marker=g2"}]}`)
	}))
	t.Cleanup(b.neutron.Close)
	b.keystone = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Subject-Token", "tok")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
			"project": map[string]any{"id": "p1", "name": "demo"},
			"catalog": []any{
				map[string]any{"type": "network", "endpoints": []any{map[string]any{"interface": "public", "url": b.neutron.URL}}},
				map[string]any{"type": "identity", "endpoints": []any{map[string]any{"interface": "public", "url": "http://" + r.Host + "/v3"}}},
				map[string]any{"type": "dns", "endpoints": []any{map[string]any{"interface": "public", "url": "http://192.0.2.1:9001"}}},
			},
		}})
	}))
	t.Cleanup(b.keystone.Close)
	p, err := Start(b.keystone.URL + "/v3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	b.proxy = p
	return b
}

// token authenticates through the proxy and returns the catalog's network URL.
func (b *bed) token(t *testing.T) string {
	t.Helper()
	resp, err := b.client.Post(b.proxy.IdentityURL(b.keystone.URL+"/v3")+"/auth/tokens", "application/json", strings.NewReader(`{"auth": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Token struct {
			Catalog []struct {
				Type      string
				Endpoints []struct{ URL string }
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, s := range doc.Token.Catalog {
		urls[s.Type] = s.Endpoints[0].URL
	}
	if urls["network"] == b.neutron.URL || !strings.HasPrefix(urls["network"], "http://127.0.0.1:") {
		t.Fatalf("catalog network endpoint %q not rewritten to the proxy", urls["network"])
	}
	if urls["identity"] != b.proxy.IdentityURL(b.keystone.URL+"/v3") {
		t.Errorf("catalog identity endpoint %q, want the proxy's %q", urls["identity"], b.proxy.IdentityURL(b.keystone.URL+"/v3"))
	}
	if urls["dns"] != "http://192.0.2.1:9001" {
		t.Errorf("a non-loopback endpoint was rewritten: %q", urls["dns"])
	}
	return urls["network"]
}

func (b *bed) seenCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func (b *bed) do(t *testing.T, method, u string) (*http.Response, []byte, error) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"security_group": {"name": "a-dmz"}}`)
	}
	req, _ := http.NewRequest(method, u, body)
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	return resp, rb, err
}

func TestCatalogRewrittenAndTrafficProxied(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	resp, body, err := b.do(t, "GET", net+"/v2.0/security-groups?tags=managed-by:hardenctl")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET through the proxy: %v %v", resp, err)
	}
	if strings.Contains(string(body), b.neutron.URL) || !strings.Contains(string(body), net+"/v2.0/security-groups?marker=g2") {
		t.Errorf("links in the body not rewritten to the proxy:\n%s", body)
	}
	resp, _, err = b.do(t, "POST", net+"/v2.0/security-groups")
	if err != nil || resp.StatusCode != 201 || resp.Header.Get("Location") != net+"/v2.0/security-groups/g1" {
		t.Fatalf("POST: %v, Location %q", err, resp.Header.Get("Location"))
	}
	recs := waitRecords(t, b.proxy, 3)
	if len(recs) != 3 || recs[0].Service != "identity" || recs[1].Service != "network" || recs[1].Query != "tags=managed-by:hardenctl" ||
		recs[2].Method != "POST" || recs[2].Status != 201 || !recs[2].Forwarded || recs[2].Fault != "" {
		t.Errorf("records: %v", recs)
	}
	if l := b.proxy.Listeners(); len(l) != 2 || l["network"] != net {
		t.Errorf("listeners %v", l)
	}
}

func TestStatusBeforeAndAfter(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	b.proxy.Add(Rule{Service: "network", Method: "POST", Path: "/v2.0/security-groups", Times: Nth(1), Fault: TooManyRequests("30")})
	b.proxy.Add(Rule{Service: "network", Method: "POST", Path: "/v2.0/security-groups", Times: Nth(1), Fault: StatusAfter(503)})
	resp, _, err := b.do(t, "POST", net+"/v2.0/security-groups")
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || b.seenCount() != 0 {
		t.Fatalf("429 before: %v %v, backend saw %d", resp, err, b.seenCount())
	}
	// The first rule has had its Nth; the second now matches for the first time.
	resp, body, err := b.do(t, "POST", net+"/v2.0/security-groups")
	if err != nil || resp.StatusCode != 503 || b.seenCount() != 1 || !strings.Contains(string(body), "injected by faultproxy") {
		t.Fatalf("503 after: %v %v, backend saw %d", resp, err, b.seenCount())
	}
	resp, _, _ = b.do(t, "POST", net+"/v2.0/security-groups")
	if resp.StatusCode != 201 || b.seenCount() != 2 {
		t.Errorf("third POST: %d, backend saw %d", resp.StatusCode, b.seenCount())
	}
	recs := waitRecords(t, b.proxy, 3)[1:]
	if recs[0].Fault != "429 Retry-After 30 before" || recs[0].Forwarded || recs[1].Fault != "503 after" || !recs[1].Forwarded || recs[1].Upstream != 201 || recs[1].Status != 503 {
		t.Errorf("records %v", recs)
	}
}

func TestTimes(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	first := b.proxy.Add(Rule{Method: "GET", Path: "/v2.0/*", Times: FirstN(2), Fault: StatusBefore(502)})
	var codes []int
	for range 4 {
		resp, _, err := b.do(t, "GET", net+"/v2.0/security-groups")
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[502 502 200 200]" || b.proxy.Fired(first) != 2 {
		t.Errorf("FirstN(2): codes %v, fired %d", codes, b.proxy.Fired(first))
	}
	b.proxy.Clear()
	every := b.proxy.Add(Rule{Method: "GET", Path: "/v2.0/**", Fault: StatusBefore(500)})
	for range 3 {
		if resp, _, _ := b.do(t, "GET", net+"/v2.0/security-groups/x/tags"); resp.StatusCode != 500 {
			t.Errorf("Every: %d", resp.StatusCode)
		}
	}
	if b.proxy.Fired(every) != 3 {
		t.Errorf("Every fired %d", b.proxy.Fired(every))
	}
}

func TestPathAndQueryMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"/v2.0/security-groups", "/v2.0/security-groups", true},
		{"/v2.0/security-groups", "/v2.0/security-groups/x", false},
		{"/v2.0/security-groups/*", "/v2.0/security-groups/x", true},
		{"/v2.0/security-groups/*/tags", "/v2.0/security-groups/x/tags", true},
		{"/v2.0/security-groups/*/tags", "/v2.0/security-groups/x", false},
		{"/v2.0/**", "/v2.0/security-group-rules/r", true},
		{"/v2.1/servers/detail", "/v2.1/servers/detail/", true},
	}
	for _, c := range cases {
		if got := pathMatch(c.pattern, c.path); got != c.want {
			t.Errorf("pathMatch(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
	r := Rule{Method: "GET", Query: HasTagFilter}
	withTags, _ := http.NewRequest("GET", "http://x/v2.0/security-groups?tags=a,b", nil)
	withName, _ := http.NewRequest("GET", "http://x/v2.0/security-groups?name=a", nil)
	if !r.matches("network", withTags, nil) || r.matches("network", withName, nil) {
		t.Errorf("HasTagFilter matches wrong requests")
	}
}

func TestTruncatedBody(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	b.proxy.Add(Rule{Method: "GET", Times: Nth(1), Fault: TruncateBody()})
	resp, body, err := b.do(t, "GET", net+"/v2.0/security-groups")
	if !errors.Is(err, io.ErrUnexpectedEOF) || resp == nil && err == nil {
		t.Fatalf("truncated body: resp %v body %q err %v; want io.ErrUnexpectedEOF", resp, body, err)
	}
	if b.seenCount() != 1 {
		t.Errorf("backend saw %d requests, want 1", b.seenCount())
	}
}

func TestResetBeforeHeaders(t *testing.T) {
	for _, phase := range []Phase{Before, After} {
		b := newBed(t)
		net := b.token(t)
		b.proxy.Add(Rule{Method: "POST", Times: Nth(1), Fault: ResetConn(phase)})
		_, _, err := b.do(t, "POST", net+"/v2.0/security-groups")
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("reset %s: err %v, want ECONNRESET", phase, err)
		}
		if want := map[Phase]int{Before: 0, After: 1}[phase]; b.seenCount() != want {
			t.Errorf("reset %s: backend saw %d requests, want %d", phase, b.seenCount(), want)
		}
		if r := waitRecords(t, b.proxy, 2)[1]; r.Status != 0 || r.Fault != "reset "+phase.String() {
			t.Errorf("record %v", r)
		}
	}
}

func TestResetMidBody(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	b.proxy.Add(Rule{Method: "GET", Fault: ResetMidBodyFault()})
	req, _ := http.NewRequest("GET", net+"/v2.0/security-groups", nil)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("headers should arrive: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Errorf("status %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil || int64(len(body)) >= resp.ContentLength {
		t.Errorf("read %d of %d bytes, err %v; want a cut", len(body), resp.ContentLength, err)
	}
}

func TestSlowResponse(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	b.proxy.Add(Rule{Method: "GET", Fault: SlowResponse(300 * time.Millisecond)})
	start := time.Now()
	resp, _, err := b.do(t, "GET", net+"/v2.0/security-groups")
	if err != nil || resp.StatusCode != 200 || time.Since(start) < 300*time.Millisecond {
		t.Errorf("slow: %v %v after %s", resp, err, time.Since(start))
	}
}

func TestIgnoreTagFilter(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	b.proxy.Add(Rule{Method: "GET", Query: HasTagFilter, Fault: IgnoreTags()})
	if _, _, err := b.do(t, "GET", net+"/v2.0/security-groups?tags=managed-by:hardenctl,hardenctl-config:a&tags-any=x&project_id=p1"); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) != 1 || b.seen[0] != "GET /v2.0/security-groups?project_id=p1" {
		t.Errorf("backend saw %v; want the list without its tag filters", b.seen)
	}
}

func TestUnauthorizedOnce(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	b.proxy.Add(Rule{Service: "network", Times: Nth(1), Fault: Unauthorized()})
	r1, _, _ := b.do(t, "GET", net+"/v2.0/security-groups")
	r2, _, _ := b.do(t, "GET", net+"/v2.0/security-groups")
	if r1.StatusCode != 401 || r2.StatusCode != 200 {
		t.Errorf("401 once: %d then %d", r1.StatusCode, r2.StatusCode)
	}
}

func TestOnlyLoopbackUpstreams(t *testing.T) {
	if _, err := Start("http://192.0.2.1:5000/v3"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("Start with a non-loopback Keystone: %v", err)
	}
}

func TestWriteCloudsYAML(t *testing.T) {
	b := newBed(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "clouds.yaml")
	os.WriteFile(src, []byte(`clouds:
  demo:
    auth: {auth_url: '`+b.keystone.URL+`/v3', username: demo, password: s3cret, project_name: demo,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
  other:
    auth: {auth_url: 'http://127.0.0.1:1/v3', username: x, password: y}
`), 0o600)
	dst := filepath.Join(dir, "proxied.yaml")
	if err := b.proxy.WriteCloudsYAML(src, dst, "demo"); err != nil {
		t.Fatal(err)
	}
	ao, eo, _, err := clouds.Parse(clouds.WithLocations(dst), clouds.WithCloudName("demo"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ao.IdentityEndpoint)
	if ao.IdentityEndpoint != b.proxy.IdentityURL(b.keystone.URL+"/v3") || u.Path != "/v3" || ao.Username != "demo" || ao.Password != "s3cret" ||
		ao.Scope == nil || ao.Scope.ProjectName != "demo" || eo.Region != "RegionOne" {
		t.Errorf("proxied entry: %+v %+v", ao, eo)
	}
	if err := b.proxy.WriteCloudsYAML(src, dst, "other"); err == nil {
		t.Errorf("an entry of another Keystone was written")
	}
}

// waitRecords waits until the proxy has recorded n requests (a handler records when it is
// done, which may be after the client saw a reset).
func waitRecords(t *testing.T, p *Proxy, n int) []Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := p.Records()
		if len(recs) >= n || time.Now().After(deadline) {
			if len(recs) < n {
				t.Fatalf("%d records, want %d: %v", len(recs), n, recs)
			}
			return recs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMatchSeesTheBodyAndNoteNamesTheFault(t *testing.T) {
	b := newBed(t)
	net := b.token(t)
	guard := b.proxy.Add(Rule{Method: "POST", Match: func(r *http.Request, body []byte) bool {
		return strings.Contains(string(body), `"a-dmz"`)
	}, Fault: Fault{Kind: Status, Code: http.StatusForbidden, Note: "guarded"}})
	resp, body, err := b.do(t, "POST", net+"/v2.0/security-groups")
	if err != nil || resp.StatusCode != 403 || !strings.Contains(string(body), "guarded") || b.seenCount() != 0 || b.proxy.Fired(guard) != 1 {
		t.Fatalf("guarded POST: %v %v %q, backend saw %d", resp, err, body, b.seenCount())
	}
	if r := waitRecords(t, b.proxy, 2)[1]; r.Fault != "guarded" {
		t.Errorf("record %v", r)
	}
	// The backend still gets the body whole when no rule strikes.
	b.proxy.Clear()
	if resp, _, _ := b.do(t, "POST", net+"/v2.0/security-groups"); resp.StatusCode != 201 || b.seenCount() != 1 {
		t.Errorf("unguarded POST: %d, backend saw %d", resp.StatusCode, b.seenCount())
	}
}

func TestTokenValidationIsRewrittenToo(t *testing.T) {
	b := newBed(t)
	b.token(t)
	resp, body, err := b.do(t, "GET", b.proxy.IdentityURL(b.keystone.URL+"/v3")+"/auth/tokens")
	if err != nil || resp.StatusCode != 200 || strings.Contains(string(body), b.neutron.URL) {
		t.Errorf("GET /v3/auth/tokens: %v %v, body still names the backend:\n%s", resp, err, body)
	}
}
