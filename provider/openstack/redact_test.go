package openstack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A Keystone that echoes the request in its error body: the error hardenctl returns (and
// prints) has the password replaced.
func TestErrorBodiesAreRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		msg, _ := json.Marshal("bad request " + string(b)) // the request, quoted in the message
		w.Write([]byte(`{"error": {"message": ` + string(msg) + `, "code": 401}}`))
	}))
	defer srv.Close()
	for k, v := range map[string]string{"OS_AUTH_URL": srv.URL + "/v3", "OS_USERNAME": "demo", "OS_PASSWORD": `s3cr3t"pass/word`,
		"OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_NAME": "demo", "OS_PROJECT_DOMAIN_NAME": "Default", "OS_CLOUD": ""} {
		t.Setenv(k, v)
	}
	_, err := New(context.Background(), Options{})
	if err == nil {
		t.Fatal("authenticated against an endpoint that refuses")
	}
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), redacted) {
		t.Errorf("the error shows the password, or was not redacted: %v", err)
	}
	t.Log(err)
}
