package openstack

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/images"
)

// TestServerAndImageLifecycle runs every compute and image call the image pipeline makes
// against the test bed's Nova and Glance: key pair, build group, boot, console, stop,
// snapshot, properties and tags, deactivate, delete.
func TestServerAndImageLifecycle(t *testing.T) {
	c := integrationClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := fmt.Sprintf("lc%d", time.Now().UnixNano()%1e9)

	if err := c.CreateKeyPair(ctx, id, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpWtDsDf+mzCzHXZ1Au5Hp84mXzvX2M9WKCwqKf0c5n test"); err != nil {
		t.Fatal(err)
	}
	defer c.DeleteKeyPair(context.Background(), id)
	owner := []string{"managed-by:hardenctl", "hardenctl-config:" + id}
	bastion, _, err := c.CreateSecurityGroup(ctx, id+"-bastion", "bastion", owner)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteSecurityGroup(context.Background(), bastion)
	if found, err := c.FindSecurityGroup(ctx, id+"-bastion", owner); err != nil || found != bastion {
		t.Fatalf("find the bastion group: %q, %v; want %s", found, err, bastion)
	}
	if _, err := c.FindSecurityGroup(ctx, id+"-bastion", []string{"managed-by:hardenctl", "hardenctl-config:other"}); err == nil {
		t.Error("another configuration's tags found the bastion group")
	}
	if _, err := c.CreateBuildGroup(ctx, id+"-open", "", nil); err == nil {
		t.Error("a build group without the bastion's group was created")
	}
	gid, err := c.CreateBuildGroup(ctx, id, bastion, []string{"managed-by:hardenctl", "hardenctl-build:" + id})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteSecurityGroup(context.Background(), gid)
	// Read back through Neutron: SSH comes in from the bastion's members only.
	obs, err := c.ObserveSecurityGroups(ctx, []string{"hardenctl-build:" + id}, nil)
	if err != nil || len(obs.Owned) != 1 {
		t.Fatalf("read the build group back: %v %+v", err, obs)
	}
	var ingress []string
	for _, r := range obs.Owned[0].Rules {
		if r.Direction == "ingress" {
			ingress = append(ingress, fmt.Sprintf("%s %d-%d prefix=%q group=%s", r.Protocol, r.PortMin, r.PortMax, r.RemoteIPPrefix, r.RemoteGroupID))
		}
	}
	if want := fmt.Sprintf("tcp 22-22 prefix=\"\" group=%s", bastion); len(ingress) != 1 || ingress[0] != want {
		t.Errorf("build group ingress %q, want only %q", ingress, want)
	}

	src, err := c.FindImages(ctx, images.ImageQuery{Name: "cirros-fake-1"})
	if err != nil || len(src) == 0 {
		t.Fatalf("find the test bed's sample image: %v (%d found)", err, len(src))
	}
	sid, err := c.CreateServer(ctx, images.ServerSpec{Name: id, ImageID: src[0].ID, Flavor: "m1.tiny", Network: "private",
		SecurityGroups: []string{gid}, KeyName: id, Tags: []string{"hardenctl-build"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := c.WaitServer(ctx, sid, "ACTIVE")
	if err != nil {
		c.DeleteServer(context.Background(), sid)
		t.Fatal(err)
	}
	// Ownership read on the server itself, right before apply rebuilds or deletes one.
	if err := c.CheckServerOwned(ctx, sid, []string{"hardenctl-build"}); err != nil {
		t.Errorf("a server carrying the tags: %v", err)
	}
	if err := c.CheckServerOwned(ctx, sid, []string{"hardenctl-build", "managed-by:hardenctl"}); err == nil {
		t.Error("a server without managed-by:hardenctl passed the ownership check")
	}
	if srv.Address == "" || srv.ImageID != src[0].ID {
		t.Errorf("server %+v: want an address and image %s", srv, src[0].ID)
	}
	if _, err := c.ConsoleOutput(ctx, sid); err != nil {
		t.Errorf("console: %v", err)
	}
	if err := c.StopServer(ctx, sid); err != nil {
		t.Fatal(err)
	}
	imgID, err := c.Snapshot(ctx, sid, id+"-img", map[string]string{"hardenctl_build": id})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteImage(context.Background(), imgID)
	if _, err := c.WaitImage(ctx, imgID); err != nil {
		t.Fatal(err)
	}
	if err := c.SetImageProperties(ctx, imgID, map[string]string{"hardenctl_score": "87.5", "hardenctl_build": id}, []string{"managed-by:hardenctl", "x"}); err != nil {
		t.Fatal(err)
	}
	found, err := c.FindImages(ctx, images.ImageQuery{Tags: []string{"managed-by:hardenctl"}, Properties: map[string]string{"hardenctl_build": id}})
	if err != nil || len(found) != 1 || found[0].Properties["hardenctl_score"] != "87.5" || !slices.Contains(found[0].Tags, "x") {
		t.Fatalf("find by tag and property: %v %+v", err, found)
	}
	// Ownership is the project too: the admin, who sees every project's images, does not
	// own the demo project's image.
	q := images.ImageQuery{Tags: []string{"managed-by:hardenctl", "x"}, OwnProject: true}
	if mine, err := c.FindImages(ctx, q); err != nil || len(mine) != 1 || mine[0].Owner != c.projectID {
		t.Errorf("the demo project's own images: %v %+v", err, mine)
	}
	admin, err := New(ctx, Options{Cloud: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if all, err := admin.FindImages(ctx, images.ImageQuery{Tags: q.Tags}); err != nil || len(all) != 1 {
		t.Errorf("the admin sees the image: %v %+v", err, all)
	}
	if theirs, err := admin.FindImages(ctx, q); err != nil || len(theirs) != 0 {
		t.Errorf("the admin owns the demo project's image: %v %+v", err, theirs)
	}
	if err := c.DeactivateImage(ctx, imgID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteServer(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteImage(ctx, imgID); err != nil {
		t.Fatal(err)
	}
}
