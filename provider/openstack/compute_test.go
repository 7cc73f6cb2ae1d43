package openstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// fakeNova stands in for Nova's compute API: its version document, one server, rebuild and
// the rebuild's instance action (finished after actionPolls reads).
type fakeNova struct {
	mu          sync.Mutex
	maxVersion  string // "" : no version document (404)
	volume      bool   // the server boots from a volume: Nova shows no image, before and after
	actionPolls int    // how many reads of the action see it still running
	actionError bool   // the rebuild's compute event ends in error
	// recorded
	versions map[string]string // request "METHOD path" -> X-OpenStack-Nova-API-Version
	rebuilds int
	polls    int
}

func (n *fakeNova) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.versions == nil {
		n.versions = map[string]string{}
	}
	n.versions[r.Method+" "+r.URL.Path] = r.Header.Get("X-OpenStack-Nova-API-Version")
	w.Header().Set("Content-Type", "application/json")
	image := `{"id": "img-old"}`
	if n.volume {
		image = `""`
	} else if n.rebuilds > 0 {
		image = `{"id": "img-new"}`
	}
	switch {
	case r.URL.Path == "/v2.1/" && r.Method == "GET":
		if n.maxVersion == "" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"version": {"id": "v2.1", "status": "CURRENT", "version": %q, "min_version": "2.1"}}`, n.maxVersion)
	case r.URL.Path == "/v2.1/servers/s1" && r.Method == "GET":
		fmt.Fprintf(w, `{"server": {"id": "s1", "name": "site-app-01", "status": "ACTIVE", "image": %s, "OS-EXT-STS:task_state": null}}`, image)
	case r.URL.Path == "/v2.1/servers/s1/action" && r.Method == "POST":
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"rebuild"`) {
			http.Error(w, "unexpected action", http.StatusBadRequest)
			return
		}
		n.rebuilds++
		w.Header().Set("X-Openstack-Request-Id", "req-rebuild-1")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"server": {"id": "s1", "name": "site-app-01", "status": "REBUILD", "image": %s}}`, image)
	case r.URL.Path == "/v2.1/servers/s1/os-instance-actions/req-rebuild-1" && r.Method == "GET":
		n.polls++
		finish, result := `null`, `null`
		if n.polls > n.actionPolls {
			finish, result = `"2024-05-01T10:00:09.000000"`, `"Success"`
			if n.actionError {
				result = `"Error"`
			}
		}
		fmt.Fprintf(w, `{"instanceAction": {"action": "rebuild", "request_id": "req-rebuild-1", "message": %s, "events": [
			{"event": "conductor_rebuild_server", "start_time": "2024-05-01T10:00:00.000000", "finish_time": "2024-05-01T10:00:01.000000", "result": "Success"},
			{"event": "compute_rebuild_instance", "start_time": "2024-05-01T10:00:01.000000", "finish_time": %s, "result": %s}]}}`,
			map[bool]string{true: `"Error"`, false: `null`}[n.actionError && n.polls > n.actionPolls], finish, result)
	default:
		http.Error(w, "not here: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

// computeTestClient points a Client's compute service at nova, negotiated as New does.
func computeTestClient(t *testing.T, nova http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(nova)
	t.Cleanup(srv.Close)
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Transport: http.DefaultTransport}, TokenID: "tok"}
	sc := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: srv.URL + "/v2.1/", ResourceBase: srv.URL + "/v2.1/", Type: "compute"}
	max, err := negotiateCompute(context.Background(), sc)
	return &Client{compute: sc, computeMax: max, computeErr: err, projectID: "p1", logger: slog.New(slog.DiscardHandler)}
}

// Every compute request sends the base microversion the calls need (2.52), read against the
// cloud's range; a cloud that stops below it makes the compute calls fail, saying why.
func TestComputeMicroversionNegotiated(t *testing.T) {
	nova := &fakeNova{maxVersion: "2.93"}
	c := computeTestClient(t, nova)
	if c.MaxComputeMicroversion() != "2.93" || c.needCompute() != nil {
		t.Fatalf("max %q, %v; want 2.93 and a usable compute service", c.MaxComputeMicroversion(), c.needCompute())
	}
	if _, err := c.WaitServer(context.Background(), "s1", "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	if got := nova.versions["GET /v2.1/servers/s1"]; got != "2.52" {
		t.Errorf("server read sent microversion %q, want 2.52", got)
	}

	old := computeTestClient(t, &fakeNova{maxVersion: "2.38"})
	if err := old.needCompute(); err == nil || !strings.Contains(err.Error(), "needs 2.52") {
		t.Errorf("a compute API that stops at 2.38: %v", err)
	}
	unknown := computeTestClient(t, &fakeNova{})
	if unknown.MaxComputeMicroversion() != "" || unknown.needCompute() != nil || unknown.compute.Microversion != "2.52" {
		t.Errorf("no version document: max %q, %v, sends %q; want unknown, usable, 2.52", unknown.MaxComputeMicroversion(), unknown.needCompute(), unknown.compute.Microversion)
	}
}

// A volume-backed server is rebuilt with 2.93 and the wait ends when the rebuild's instance
// action has finished, though Nova never shows it an image; an image-backed one keeps 2.52.
func TestRebuildWaitsOnTheInstanceAction(t *testing.T) {
	for _, volume := range []bool{true, false} {
		nova := &fakeNova{maxVersion: "2.93", volume: volume, actionPolls: 2}
		c := computeTestClient(t, nova)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		err := c.RebuildServer(ctx, "s1", "img-new")
		cancel()
		if err != nil {
			t.Fatalf("volume %t: %v", volume, err)
		}
		want := "2.52"
		if volume {
			want = "2.93"
		}
		if got := nova.versions["POST /v2.1/servers/s1/action"]; got != want {
			t.Errorf("volume %t: rebuild sent microversion %q, want %s", volume, got, want)
		}
		if got := nova.versions["GET /v2.1/servers/s1"]; got != "2.52" {
			t.Errorf("volume %t: the server reads sent %q, want 2.52 (only the rebuild takes 2.93)", volume, got)
		}
		if nova.polls != 3 {
			t.Errorf("volume %t: the action was read %d times, want until it finished (3)", volume, nova.polls)
		}
	}
}

// Without 2.93 a volume-backed server is not rebuilt at all (nothing sent), saying why; a
// rebuild whose compute event fails fails the wait with Nova's message.
func TestRebuildRefusalsAndFailures(t *testing.T) {
	nova := &fakeNova{maxVersion: "2.90", volume: true}
	c := computeTestClient(t, nova)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.RebuildServer(ctx, "s1", "img-new")
	if err == nil || !strings.Contains(err.Error(), "needs compute API microversion 2.93; the cloud supports up to 2.90") || nova.rebuilds != 0 {
		t.Errorf("volume-backed rebuild on a 2.90 cloud: %v (%d rebuilds sent)", err, nova.rebuilds)
	}
	failing := &fakeNova{maxVersion: "2.93", actionError: true}
	err = computeTestClient(t, failing).RebuildServer(ctx, "s1", "img-new")
	if err == nil || !strings.Contains(err.Error(), "rebuild of server s1 failed: Error (compute_rebuild_instance)") {
		t.Errorf("failed rebuild: %v", err)
	}
}
