package openstack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/hardenctl/hardenctl/plan"
)

// testClient points a Client at an httptest server standing in for Neutron (error paths
// only: the integration tests run against the real one).
func testClient(t *testing.T, h http.Handler) (*Client, *retryTransport) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rt := newRetryTransport(http.DefaultTransport, slog.New(slog.DiscardHandler))
	rt.sleep = func(context.Context, time.Duration) error { return nil }
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Transport: rt}, TokenID: "tok"}
	sc := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: srv.URL + "/v2.0/", ResourceBase: srv.URL + "/v2.0/"}
	return &Client{network: sc, projectID: "p1", logger: slog.New(slog.DiscardHandler)}, rt
}

// A Neutron that ignores the tag and project filters lists every group: only the ones
// carrying all the ownership tags, in the token's project, are owned.
func TestObserveChecksOwnershipItself(t *testing.T) {
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"security_groups": [
			{"id": "mine", "name": "x-app", "project_id": "p1", "tags": ["managed-by:hardenctl", "hardenctl-config:x"]},
			{"id": "untagged", "name": "x-app", "project_id": "p1", "tags": []},
			{"id": "other-config", "name": "x-app", "project_id": "p1", "tags": ["managed-by:hardenctl", "hardenctl-config:y"]},
			{"id": "other-project", "name": "x-app", "project_id": "p2", "tags": ["managed-by:hardenctl", "hardenctl-config:x"]}]}`)
	}))
	obs, err := c.ObserveSecurityGroups(context.Background(), plan.OwnerTags("x"), []string{"x-app"})
	if err != nil {
		t.Fatal(err)
	}
	var owned, others []string
	for _, g := range obs.Owned {
		owned = append(owned, g.ID)
	}
	for _, g := range obs.Others {
		others = append(others, g.ID)
	}
	if strings.Join(owned, ",") != "mine" || strings.Join(others, ",") != "untagged,other-config" {
		t.Errorf("owned %v, others %v; want [mine] and the same-named groups of this project", owned, others)
	}
	c.projectID = ""
	if _, err := c.ObserveSecurityGroups(context.Background(), plan.OwnerTags("x"), nil); err == nil {
		t.Error("a token without a project observed groups")
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	var calls atomic.Int32
	c, rt := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"security_groups": []}`)
	}))
	var waits []time.Duration
	rt.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	if _, err := c.ObserveSecurityGroups(context.Background(), plan.OwnerTags("x"), nil); err != nil {
		t.Fatalf("observe after two 429s: %v", err)
	}
	if calls.Load() != 3 || len(waits) != 2 || waits[0] != 7*time.Second {
		t.Errorf("calls = %d, waits = %v; want 3 calls and two waits of 7s", calls.Load(), waits)
	}
}

func TestNoRetryOfPostAfter500(t *testing.T) {
	var calls atomic.Int32
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"NeutronError": {"message": "boom"}}`)
	}))
	err := c.CreateSecurityGroupRules(context.Background(), "g1", []plan.ObservedRule{{Rule: plan.Rule{Direction: "ingress", EtherType: "IPv4"}}})
	if err == nil || !strings.Contains(err.Error(), "create 1 rules in security group g1") {
		t.Fatalf("err = %v, want one that names the group", err)
	}
	if calls.Load() != 1 {
		t.Errorf("a POST that failed with 500 was sent %d times; it may have been done, so once", calls.Load())
	}
}

func TestRetryGetAfter503(t *testing.T) {
	var calls atomic.Int32
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	if err := c.DeleteSecurityGroupRule(context.Background(), "r1"); err != nil {
		t.Fatalf("delete after one 503: %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("calls = %d, want 2", calls.Load())
	}
}

func TestBulkConflictFallsBackToSingleCreates(t *testing.T) {
	var bulk, single atomic.Int32
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		json.NewDecoder(r.Body).Decode(&body)
		if _, ok := body["security_group_rules"]; ok {
			bulk.Add(1)
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"NeutronError": {"type": "SecurityGroupRuleExists", "message": "Security group rule already exists."}}`)
			return
		}
		if single.Add(1) == 1 {
			w.WriteHeader(http.StatusConflict) // the one that exists
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"security_group_rule": {"id": "new"}}`)
	}))
	specs := []plan.ObservedRule{
		{Rule: plan.Rule{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 22, PortMax: 22}},
		{Rule: plan.Rule{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 443, PortMax: 443}},
	}
	if err := c.CreateSecurityGroupRules(context.Background(), "g1", specs); err != nil {
		t.Fatalf("409 'already exists' must count as success: %v", err)
	}
	if bulk.Load() != 1 || single.Load() != 2 {
		t.Errorf("bulk = %d, single = %d; want 1 bulk then 2 single creates", bulk.Load(), single.Load())
	}
}

func TestDeleteGroupInUseSaysSo(t *testing.T) {
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"NeutronError": {"type": "SecurityGroupInUse", "message": "Security Group sg1 in use."}}`)
	}))
	err := c.DeleteSecurityGroup(context.Background(), "sg1")
	if err == nil || !strings.Contains(err.Error(), "still in use") {
		t.Errorf("err = %v, want 'still in use'", err)
	}
}

func TestAuthErrorHidesPassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error": {"code": 401, "message": "The request you have made requires authentication."}}`)
	}))
	defer srv.Close()
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", srv.URL+"/v3")
	t.Setenv("OS_USERNAME", "alice")
	t.Setenv("OS_PASSWORD", "s3cret-pa55")
	t.Setenv("OS_PROJECT_NAME", "p")
	t.Setenv("OS_USER_DOMAIN_NAME", "Default")
	t.Setenv("OS_PROJECT_DOMAIN_NAME", "Default")
	_, err := New(context.Background(), Options{})
	if err == nil {
		t.Fatal("authentication against a server that says 401 succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pa55") {
		t.Errorf("the error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), `user "alice"`) {
		t.Errorf("the error does not say who failed to log in: %v", err)
	}
}
