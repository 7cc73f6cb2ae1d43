package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/schedule"
	"github.com/hardenctl/hardenctl/schedule/scheduletest"
)

// schedule history reads the records from the test bed's Swift, in the schedule's container.
func TestScheduleHistorySwift(t *testing.T) {
	if os.Getenv("HARDENCTL_INTEGRATION") != "1" {
		t.Skip("set HARDENCTL_INTEGRATION=1 (make test does) to run against the test bed")
	}
	name := fmt.Sprintf("sh%d", time.Now().UnixNano()%1e9)
	dir := t.TempDir()
	hcl := fmt.Sprintf(`name = %q
zone "app" {}
fleet "db" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.small"
  count  = 1
}
schedule "rebuild" {
  every             = "2w"
  at                = "Sun 02:00 Europe/Berlin"
  scan              = [fleet.db]
  history_container = %q
}
`, name, name+"-history")
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cloud, err := openstack.New(ctx, openstack.Options{Cloud: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cloud.Records(name+"-history", name)
	if err != nil {
		t.Fatal(err)
	}
	rec := scheduletest.SampleRecord("rebuild", time.Now().Add(-time.Hour), 7)
	rec.Config, rec.Who = name, cloud.Who()
	if err := store.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := store.Prune(context.Background(), "rebuild", 0); err != nil {
			t.Error(err)
		}
		if err := cloud.DeleteRecordsContainer(context.Background(), name+"-history"); err != nil {
			t.Error(err)
		}
	})
	r := runCLI(t, "", nil, "-C", dir, "schedule", "history", "rebuild", "--cloud", "demo", "-json")
	if r.code != 0 {
		t.Fatalf("schedule history: exit %d\n%s", r.code, r.stderr)
	}
	var got []schedule.Record
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].ID != rec.ID || got[0].Who.User != "demo" {
		t.Errorf("schedule history -json (%v):\n%s", err, r.stdout)
	}
	r = runCLI(t, "", nil, "-C", dir, "schedule", "history", "rebuild", "--cloud", "demo")
	if r.code != 0 || len(r.stdout) == 0 {
		t.Errorf("schedule history: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
