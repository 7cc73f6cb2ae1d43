package openstack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/hardenctl/hardenctl/schedule/scheduletest"
)

// A catalog without an object store: Records says so, for the caller to fall back on files.
func TestRecordsWithoutObjectStore(t *testing.T) {
	c := &Client{logger: slog.New(slog.DiscardHandler)}
	if _, err := c.Records("hardenctl-history", "sample"); !errors.Is(err, ErrNoObjectStore) {
		t.Errorf("Records without an object store: %v, want ErrNoObjectStore", err)
	}
}

// The first Put creates the missing container, then the object; a listing of a missing
// container is empty, not an error (error paths on a fake: the integration test runs the
// store contract on the test bed's Swift).
func TestSwiftRecordsCreatesContainer(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	containerExists := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.Method+" "+r.URL.Path)
		switch {
		case r.Method == http.MethodGet && !containerExists:
			w.WriteHeader(http.StatusNotFound)
		case r.Method == http.MethodPut && r.URL.Path == "/v1/AUTH_p1/runs":
			containerExists = true
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodPut && !containerExists:
			w.WriteHeader(http.StatusNotFound)
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body)
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("object Content-Type %q", ct)
			}
			w.WriteHeader(http.StatusCreated)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	rt := newRetryTransport(http.DefaultTransport, slog.New(slog.DiscardHandler))
	rt.sleep = func(context.Context, time.Duration) error { return nil }
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Transport: rt}, TokenID: "tok"}
	sc := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: srv.URL + "/v1/AUTH_p1/", ResourceBase: srv.URL + "/v1/AUTH_p1/"}
	c := &Client{object: sc, logger: slog.New(slog.DiscardHandler)}
	s, err := c.Records("runs", "sample")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := s.List(ctx, "rebuild"); err != nil || len(got) != 0 {
		t.Fatalf("List of a missing container: %v, %v; want none", got, err)
	}
	r := scheduletest.SampleRecord("rebuild", time.Date(2026, 1, 4, 1, 2, 12, 0, time.UTC), 1)
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /v1/AUTH_p1/runs",
		"PUT /v1/AUTH_p1/runs/sample/rebuild/20260104T010212Z-00000001.json",
		"PUT /v1/AUTH_p1/runs",
		"PUT /v1/AUTH_p1/runs/sample/rebuild/20260104T010212Z-00000001.json",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(s.Where(), `"runs"`) {
		t.Errorf("Where = %q", s.Where())
	}
}
