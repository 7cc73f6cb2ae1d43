package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/hardenctl/hardenctl/rollout"
)

// rolloutClient is testClient with Nova and Glance on the same httptest server.
func rolloutClient(t *testing.T, h http.Handler) *Client {
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
	}))
	base := strings.TrimSuffix(c.network.Endpoint, "v2.0/")
	c.compute = &gophercloud.ServiceClient{ProviderClient: c.network.ProviderClient, Endpoint: base + "compute/", ResourceBase: base + "compute/"}
	c.image = &gophercloud.ServiceClient{ProviderClient: c.network.ProviderClient, Endpoint: base + "image/", ResourceBase: base + "image/v2/"}
	return c
}

// ListFleet: one list call, ownership checked on each server, a volume-backed server known
// by its empty image, the metadata kept.
func TestListFleet(t *testing.T) {
	calls := 0
	c := rolloutClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Path != "/compute/servers/detail" || r.URL.Query().Get("tags") != "managed-by:hardenctl,hardenctl-fleet:app" {
			t.Errorf("request %s", r.URL)
		}
		io.WriteString(w, `{"servers": [
			{"id": "s1", "name": "app-01", "status": "ACTIVE", "tenant_id": "p1", "tags": ["managed-by:hardenctl", "hardenctl-fleet:app"],
			 "image": {"id": "img-A"}, "metadata": {"hardenctl_rollout": "r1", "hardenctl_rollout_phase": "healthy"},
			 "addresses": {"platform": [{"version": 4, "addr": "10.252.0.7"}]}},
			{"id": "s2", "name": "app-02", "status": "REBUILD", "OS-EXT-STS:task_state": "rebuilding", "tenant_id": "p1",
			 "tags": ["managed-by:hardenctl", "hardenctl-fleet:app"], "image": "", "metadata": {}},
			{"id": "s3", "name": "app-03", "status": "ACTIVE", "tenant_id": "p2", "tags": ["managed-by:hardenctl", "hardenctl-fleet:app"], "image": {"id": "img-A"}},
			{"id": "s4", "name": "app-04", "status": "ACTIVE", "tenant_id": "p1", "tags": ["managed-by:hardenctl"], "image": {"id": "img-A"}}]}`)
	}))
	got, err := c.ListFleet(context.Background(), []string{"managed-by:hardenctl", "hardenctl-fleet:app"})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(got) != 2 {
		t.Fatalf("%d calls, %+v", calls, got)
	}
	if s := got[0]; s.ImageID != "img-A" || s.VolumeBacked || s.Address != "10.252.0.7" || s.Metadata["hardenctl_rollout"] != "r1" {
		t.Errorf("image-backed server %+v", s)
	}
	if s := got[1]; s.ImageID != "" || !s.VolumeBacked || s.Status != "REBUILD" || s.TaskState != "rebuilding" {
		t.Errorf("volume-backed server %+v", s)
	}
}

// Rebuild sends the metadata in the request and returns Nova's request id; WaitRebuild on a
// volume-backed server goes by the rebuild's instance action.
func TestRebuildAndWaitVolumeBacked(t *testing.T) {
	var mu sync.Mutex
	gets := 0
	c := rolloutClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == "POST" && r.URL.Path == "/compute/servers/s2/action":
			var body struct {
				Rebuild struct {
					ImageRef string            `json:"imageRef"`
					Metadata map[string]string `json:"metadata"`
				} `json:"rebuild"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			if body.Rebuild.ImageRef != "img-B" || body.Rebuild.Metadata["hardenctl_rollout_phase"] != "rebuilding" || body.Rebuild.Metadata["keep"] != "1" {
				t.Errorf("rebuild body %+v", body)
			}
			w.Header().Set("X-Openstack-Request-Id", "req-42")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"server": {"id": "s2"}}`)
		case r.URL.Path == "/compute/servers/s2":
			gets++
			io.WriteString(w, `{"server": {"id": "s2", "status": "ACTIVE", "image": ""}}`)
		case r.URL.Path == "/compute/servers/s2/os-instance-actions/req-42":
			finish := "null"
			if gets >= 2 {
				finish = `"2030-01-01T00:00:09.000000"`
			}
			io.WriteString(w, `{"instanceAction": {"action": "rebuild", "request_id": "req-42", "start_time": "2030-01-01T00:00:00.000000",
				"events": [{"event": "compute_rebuild_instance", "result": "Success", "start_time": "2030-01-01T00:00:01.000000", "finish_time": `+finish+`}]}}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := c.Rebuild(ctx, "s2", "img-B", map[string]string{"keep": "1", "hardenctl_rollout_phase": "rebuilding"})
	if err != nil || req != "req-42" {
		t.Fatalf("rebuild: %q %v", req, err)
	}
	if err := c.WaitRebuild(ctx, rollout.Server{ID: "s2", Name: "app-02", VolumeBacked: true}, "img-B", req); err != nil {
		t.Fatal(err)
	}
	if gets < 2 {
		t.Errorf("the wait ended before the action's events finished (%d reads)", gets)
	}
}

// Protect and release go through Glance properties: a hold per holder, the protection lifted
// only when no hold is left and it was hardenctl's.
func TestProtectAndReleaseImage(t *testing.T) {
	var mu sync.Mutex
	props := map[string]any{"id": "img-A", "status": "active", "protected": false, "owner": "p1"}
	var patches []string
	c := rolloutClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/image/v2/images/img-A" {
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			return
		}
		if r.Method == "PATCH" {
			var ops []map[string]any
			json.NewDecoder(r.Body).Decode(&ops)
			for _, op := range ops {
				name := strings.TrimPrefix(op["path"].(string), "/")
				patches = append(patches, op["op"].(string)+" "+name)
				if op["op"] == "remove" {
					delete(props, name)
				} else {
					props[name] = op["value"]
				}
			}
		}
		json.NewEncoder(w).Encode(props)
	}))
	ctx := context.Background()
	props["owner"] = "another-project" // a shared base image: not ours to change
	if err := c.ProtectImage(ctx, "img-A", "sample.app"); !errors.Is(err, rollout.ErrImageNotOwned) || len(patches) > 0 {
		t.Fatalf("protect another project's image: %v, patches %v; want ErrImageNotOwned and no change", err, patches)
	}
	props["owner"] = "p1"
	for _, h := range []string{"sample.app", "sample.db"} {
		if err := c.ProtectImage(ctx, "img-A", h); err != nil {
			t.Fatal(err)
		}
	}
	if props["protected"] != true {
		t.Fatalf("not protected: %v", props)
	}
	if err := c.ReleaseImage(ctx, "img-A", "sample.app"); err != nil {
		t.Fatal(err)
	}
	if props["protected"] != true {
		t.Errorf("released while sample.db holds it: %v", props)
	}
	if err := c.ReleaseImage(ctx, "img-A", "sample.db"); err != nil {
		t.Fatal(err)
	}
	if props["protected"] != false || props["hardenctl_protected"] != nil {
		t.Errorf("still protected after the last release: %v (patches %v)", props, patches)
	}
	// an image protected by someone else stays protected
	props["protected"] = true
	c.ProtectImage(ctx, "img-A", "sample.app")
	c.ReleaseImage(ctx, "img-A", "sample.app")
	if props["protected"] != true {
		t.Errorf("someone else's protection was lifted: %v", props)
	}
}
