package openstack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/hardenctl/hardenctl/schedule/scheduletest"
)

// The run records in the test bed's Swift: the store contract (put, replace, list newest
// first, prune), in a container the first Put creates; and the token's user and project for
// the records' "who".
func TestSwiftRecordStore(t *testing.T) {
	c := integrationClient(t)
	if c.object == nil {
		t.Fatal("the test bed's catalog has no object store: scripts/devcloud/swift.sh adds Swift")
	}
	container := fmt.Sprintf("hardenctl-test-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		ctx := context.Background()
		names, _ := objects.List(c.object, container, objects.ListOpts{}).AllPages(ctx)
		if names != nil {
			list, _ := objects.ExtractNames(names)
			for _, n := range list {
				objects.Delete(ctx, c.object, container, n, nil)
			}
		}
		if _, err := containers.Delete(ctx, c.object, container).Extract(); err != nil {
			t.Errorf("delete container %s: %v", container, err)
		}
	})
	s, err := c.Records(container, "sample")
	if err != nil {
		t.Fatal(err)
	}
	scheduletest.TestStore(t, s, "rebuild")
	if w := c.Who(); w.User != "demo" || w.Project != "demo" || w.UserID == "" || w.ProjectID == "" {
		t.Errorf("Who = %+v, want demo/demo with ids", w)
	}
}
