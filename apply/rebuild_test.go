package apply

import (
	"context"
	"testing"

	"github.com/hardenctl/hardenctl/plan"
)

func TestRebuildOnlyWhenAllowed(t *testing.T) {
	p := &plan.Plan{Config: "t", Changes: []plan.Change{{Action: plan.Rebuild, Kind: plan.KindServer, ServerName: "t-web-01", ID: "s1",
		Server: &plan.ServerSpec{Name: "t-web-01", ImageID: "img2"}}}}
	f := &fakeCloud{}
	res, err := Apply(context.Background(), p, f, Options{})
	if err != nil || f.Has("rebuild") || len(res.SkippedRebuilds) != 1 {
		t.Errorf("without -allow-rebuild: calls %v, skipped %v, err %v; want it skipped", f.Calls, res.SkippedRebuilds, err)
	}
	f = &fakeCloud{}
	res, err = Apply(context.Background(), p, f, Options{AllowRebuild: true})
	if err != nil || !f.Has("rebuild s1 onto img2") || res.Changed != 1 {
		t.Errorf("with -allow-rebuild: calls %v, result %+v, err %v", f.Calls, res, err)
	}
}
