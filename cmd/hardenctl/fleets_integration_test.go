package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// fleetImage and fleetNetwork are what test fleets boot: the test bed's sample image unless
// told otherwise (HARDENCTL_TEST_IMAGE, HARDENCTL_TEST_NETWORK).
func fleetImage() (string, string) {
	img, nw := os.Getenv("HARDENCTL_TEST_IMAGE"), os.Getenv("HARDENCTL_TEST_NETWORK")
	if img == "" {
		img = "cirros-fake-1"
	}
	if nw == "" {
		nw = "private"
	}
	return img, nw
}

func writeFleetConfig(t testing.TB, dir, name string, count int) {
	t.Helper()
	img, nw := fleetImage()
	hcl := fmt.Sprintf(`name = %q

bastion {
  allow_from = ["198.51.100.0/24"]
}

zone "web" {
  ingress {
    from  = "0.0.0.0/0"
    ports = [443]
  }
}

fleet "web" {
  image   = %q
  zone    = zone.web
  flavor  = "m1.tiny"
  count   = %d
  network = %q
}
`, name, img, count, nw)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
}

func nova(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	ao, eo, _, err := clouds.Parse(clouds.WithCloudName("demo"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := openstack.AuthenticatedClient(context.Background(), ao)
	if err != nil {
		t.Fatal(err)
	}
	c, err := openstack.NewComputeV2(pc, eo)
	if err != nil {
		t.Fatal(err)
	}
	c.Microversion = "2.52"
	return c
}

// fleetServers lists, through Nova directly, the servers named like the fleet's.
func fleetServers(t testing.TB, c *gophercloud.ServiceClient, prefix string) []string {
	t.Helper()
	pages, err := servers.List(c, servers.ListOpts{Name: "^" + prefix}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range all {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s.Name+":"+s.Status)
		}
	}
	sort.Strings(out)
	return out
}

func wantServers(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s%02d:ACTIVE", prefix, i))
	}
	return out
}

func TestFleetScale(t *testing.T) {
	integration(t)
	t.Parallel()
	name := fmt.Sprintf("fl%d", time.Now().UnixNano()%1e9)
	dir := t.TempDir()
	c := nova(t)
	prefix := name + "-web-"
	t.Cleanup(func() {
		if r := runCLI(t, "", nil, "-C", dir, "destroy", "-cloud", "demo", "-auto-approve"); r.code != 0 {
			t.Errorf("destroy: %s%s", r.stdout, r.stderr)
		}
		if left := fleetServers(t, c, prefix); len(left) != 0 {
			t.Errorf("destroy left servers: %v", left)
		}
	})
	for _, step := range []struct{ count, add, destroy int }{{4, 4, 0}, {6, 2, 0}, {3, 0, 3}} {
		writeFleetConfig(t, dir, name, step.count)
		r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo")
		if !strings.Contains(r.stdout, fmt.Sprintf("server %s%02d", prefix, step.count)) && step.add > 0 {
			t.Errorf("plan for count %d does not name the new servers:\n%s%s", step.count, r.stdout, r.stderr)
		}
		r = runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve", "-server-concurrency", "4")
		if r.code != 0 {
			t.Fatalf("apply count %d: %s%s", step.count, r.stdout, r.stderr)
		}
		if got, want := fleetServers(t, c, prefix), wantServers(prefix, step.count); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("after apply of count %d, Nova has %v, want %v", step.count, got, want)
		}
		r = runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-detailed-exitcode")
		if r.code != 0 {
			t.Errorf("plan after apply of count %d: code %d\n%s%s", step.count, r.code, r.stdout, r.stderr)
		}
	}
}
