package openstack

import (
	"context"
	"fmt"
	"testing"
	"time"

	glance "github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/rollout"
)

// The rollout's calls on the test bed's Nova and Glance: a fleet server listed by its tags,
// rebuilt onto another image with the marks in the rebuild request (merged with its other
// metadata), waited for, marked after its "gate", read back; its instance actions give the
// audit; an image of the project protected for two holders and released.
func TestRolloutCloudCalls(t *testing.T) {
	c := integrationClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := fmt.Sprintf("ro%d", time.Now().UnixNano()%1e9)
	src1, err := c.FindImages(ctx, images.ImageQuery{Name: "cirros-fake-1"})
	if err != nil || len(src1) == 0 {
		t.Fatalf("cirros-fake-1: %v", err)
	}
	src2, err := c.FindImages(ctx, images.ImageQuery{Name: "cirros-fake-2"})
	if err != nil || len(src2) == 0 {
		t.Fatalf("cirros-fake-2: %v", err)
	}
	imgA, imgB := src1[0].ID, src2[0].ID
	tags := []string{"managed-by:hardenctl", "hardenctl-config:" + id, "hardenctl-fleet:app"}
	sid, err := c.CreateServer(ctx, images.ServerSpec{Name: id + "-app-01", ImageID: imgA, Flavor: "m1.tiny", Network: "private",
		Tags: tags, Metadata: map[string]string{"hardenctl_fleet": "app"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteServer(context.Background(), sid)
	if _, err := c.WaitServer(ctx, sid, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListFleet(ctx, tags)
	if err != nil || len(list) != 1 || list[0].ID != sid || list[0].ImageID != imgA || list[0].VolumeBacked || list[0].Status != "ACTIVE" {
		t.Fatalf("list fleet: %v %+v", err, list)
	}
	if other, err := c.ListFleet(ctx, []string{"managed-by:hardenctl", "hardenctl-config:" + id, "hardenctl-fleet:db"}); err != nil || len(other) != 0 {
		t.Errorf("another fleet's tags list %+v (%v)", other, err)
	}

	marks := rollout.Marks{ID: "r-" + id, From: imgA, To: imgB, Phase: rollout.PhaseRebuilding, At: time.Now().UTC()}
	md := marks.Metadata()
	md["hardenctl_fleet"] = "app"
	t0 := time.Now()
	req, err := c.Rebuild(ctx, sid, imgB, md)
	if err != nil || req == "" {
		t.Fatalf("rebuild: %q %v", req, err)
	}
	// While it runs, the marks are already there (they came with the request).
	during, err := c.ListFleet(ctx, tags)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := rollout.ReadMarks(during[0].Metadata); !ok || m.Phase != rollout.PhaseRebuilding || m.ID != marks.ID {
		t.Errorf("marks during the rebuild: %+v (%v)", during[0].Metadata, ok)
	}
	if err := c.WaitRebuild(ctx, during[0], imgB, req); err != nil {
		t.Fatal(err)
	}
	score := 91.5
	healthy := rollout.Marks{ID: marks.ID, From: imgA, To: imgB, Phase: rollout.PhaseHealthy, At: marks.At, HealthyAt: time.Now().UTC(), Score: &score}
	if err := c.SetMetadata(ctx, sid, healthy.Metadata()); err != nil {
		t.Fatal(err)
	}
	after, err := c.ListFleet(ctx, tags)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := rollout.ReadMarks(after[0].Metadata)
	if !ok || m.Phase != rollout.PhaseHealthy || m.Score == nil || *m.Score != 91.5 || !m.At.Equal(marks.At) || after[0].ImageID != imgB ||
		after[0].Metadata["hardenctl_fleet"] != "app" {
		t.Errorf("after the rebuild: image %s, metadata %v", after[0].ImageID, after[0].Metadata)
	}

	acts, err := c.InstanceActions(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	var rebuild *rollout.Action
	for i := range acts {
		if acts[i].RequestID == req {
			rebuild = &acts[i]
		}
	}
	if rebuild == nil || rebuild.Action != "rebuild" || rebuild.Finish.IsZero() || rebuild.Failed || rebuild.Start.Before(t0.Add(-time.Minute)) {
		t.Fatalf("instance actions %+v: want the rebuild %s, finished", acts, req)
	}
	audit, err := rollout.ReadAudit(ctx, c, tags, 10*time.Minute, time.Now())
	if err != nil || len(audit) != 1 || audit[0].Peak != 1 || len(audit[0].Downs) != 1 || audit[0].Downs[0].RequestID != req {
		t.Errorf("audit: %v %+v", err, audit)
	}
	t.Logf("rebuild %s: %v from request to finish by Nova's record", req, rebuild.Finish.Sub(rebuild.Start))

	// Protect: an image of the project, two holders.
	im, err := glance.Create(ctx, c.image, glance.CreateOpts{Name: id + "-prev", Tags: []string{"hardenctl-test"}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		p := false
		glance.Update(context.Background(), c.image, im.ID, glance.UpdateOpts{glance.ReplaceImageProtected{NewProtected: p}})
		glance.Delete(context.Background(), c.image, im.ID)
	}()
	if ok, err := c.ImageExists(ctx, im.ID); err != nil || ok {
		t.Errorf("a queued image exists for rebuilds: %v %v", ok, err)
	}
	if ok, err := c.ImageExists(ctx, imgA); err != nil || !ok {
		t.Errorf("cirros-fake-1 exists: %v %v", ok, err)
	}
	for _, h := range []string{id + ".app", id + ".db"} {
		if err := c.ProtectImage(ctx, im.ID, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := glance.Delete(ctx, c.image, im.ID).ExtractErr(); err == nil {
		t.Fatal("a protected image was deleted")
	}
	if err := c.ReleaseImage(ctx, im.ID, id+".app"); err != nil {
		t.Fatal(err)
	}
	if got, _ := glance.Get(ctx, c.image, im.ID).Extract(); !got.Protected {
		t.Error("released while another holder holds it")
	}
	if err := c.ReleaseImage(ctx, im.ID, id+".db"); err != nil {
		t.Fatal(err)
	}
	got, err := glance.Get(ctx, c.image, im.ID).Extract()
	if err != nil || got.Protected || got.Properties["hardenctl_protected"] != nil {
		t.Errorf("after the last release: protected %v, properties %v (%v)", got.Protected, got.Properties, err)
	}
}
