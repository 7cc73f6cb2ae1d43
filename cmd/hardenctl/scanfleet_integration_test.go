package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/provider/openstack"
)

// TestScanFleetFromConfig applies a fleet of two real servers (debian-12-base on the
// platform network of the test bed) and scans it by name: the hosts come from Nova through
// the configuration's ownership tags, their host keys from their consoles (no
// trust-on-first-use), the path through the configuration's bastion.
func TestScanFleetFromConfig(t *testing.T) {
	integration(t)
	th := testhostsDir()
	pub, err := os.ReadFile(filepath.Join(th, "keys/id_ed25519.pub"))
	if err != nil {
		t.Fatalf("the test hosts are not prepared (make testhosts-up): %v", err)
	}
	name := fmt.Sprintf("sf%d", time.Now().UnixNano()%1e9)
	ctx := context.Background()
	cloud, err := openstack.New(ctx, openstack.Options{Cloud: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.CreateKeyPair(ctx, name, strings.TrimSpace(string(pub))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloud.DeleteKeyPair(context.Background(), name) })
	dir := t.TempDir()
	hcl := fmt.Sprintf(`name = %q

%s
zone "data" {}

fleet "db" {
  image    = "debian-12-base"
  zone     = zone.data
  flavor   = "m1.small"
  count    = 2
  network  = "platform"
  key_pair = %q
}
`, name, testbedAccess(t, filepath.Join(dir, "reports")), name)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r := runCLI(t, "", nil, "-C", dir, "destroy", "-cloud", "demo", "-auto-approve"); r.code != 0 {
			t.Errorf("destroy: %s%s", r.stdout, r.stderr)
		}
	})
	if r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve"); r.code != 0 {
		t.Fatalf("apply: %s%s", r.stdout, r.stderr)
	}
	var r cliResult
	for i := 0; i < 3; i++ { // servers print their keys once sshd is up
		r = runCLI(t, "", nil, "-C", dir, "scan", "-cloud", "demo", "--fleet", "db", "--json")
		if r.code == 0 || r.code == 2 {
			break
		}
		time.Sleep(10 * time.Second)
	}
	t.Logf("scan --fleet db:\n%s%s", r.stdout, r.stderr)
	var sum struct {
		Hosts []struct {
			Host   string  `json:"host"`
			Status string  `json:"status"`
			Score  float64 `json:"score"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("scan -json: %v", err)
	}
	if len(sum.Hosts) != 2 {
		t.Fatalf("scanned %d hosts, want the fleet's 2", len(sum.Hosts))
	}
	for i, h := range sum.Hosts {
		if h.Host != fmt.Sprintf("%s-db-%02d", name, i+1) || (h.Status != "compliant" && h.Status != "noncompliant") || h.Score <= 0 {
			t.Errorf("host %d: %+v", i, h)
		}
	}
}
