package plan

import (
	"context"
	"strings"
	"testing"

	"github.com/hardenctl/hardenctl/config"
)

// fakeFleets is a FleetObserver with fixed servers and images.
type fakeFleets struct {
	fakeObserver
	servers []ObservedServer
	images  map[string]string
	// maxMicroversion is the cloud's compute API maximum ("" unknown).
	maxMicroversion string
}

func (f fakeFleets) ObserveServers(context.Context, []string) ([]ObservedServer, error) {
	return f.servers, nil
}

func (f fakeFleets) MaxComputeMicroversion() string { return f.maxMicroversion }

func (f fakeFleets) ResolveImage(_ context.Context, _, name string, managed bool) (string, error) {
	return f.images[name], nil
}

func fleetConfig(count int, image string, managed bool) *config.Config {
	cfg := small()
	cfg.Fleets = []*config.Fleet{{Name: "web", Image: config.ImageRef{Name: image, Managed: managed}, Zone: "web",
		Flavor: "m1.small", Count: count, Network: "platform"}}
	return cfg
}

func server(id, name, image string) ObservedServer {
	return ObservedServer{ID: id, Name: name, ImageID: image, Tags: FleetTags("t", "web")}
}

func serverChanges(p *Plan) []string {
	var out []string
	for _, c := range p.Changes {
		if c.Kind == KindServer {
			out = append(out, string(c.Action)+" "+c.ServerName)
		}
	}
	return out
}

func TestFleetCountChanges(t *testing.T) {
	obs := fakeFleets{fakeObserver: fakeObserver{observe(Desired(small()))}, images: map[string]string{"base": "img1"},
		servers: []ObservedServer{server("s1", "t-web-01", "img1"), server("s3", "t-web-03", "img1")}}
	p, err := Make(context.Background(), fleetConfig(4, "base", false), obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(serverChanges(p), ", "); got != "create t-web-02, create t-web-04" {
		t.Errorf("count 2 -> 4: %s; want the lowest free numbers created", got)
	}
	p, err = Make(context.Background(), fleetConfig(1, "base", false), obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(serverChanges(p), ", "); got != "delete t-web-03" {
		t.Errorf("count 2 -> 1: %s; want the highest number deleted", got)
	}
}

func TestFleetImageChangeIsARebuild(t *testing.T) {
	obs := fakeFleets{fakeObserver: fakeObserver{observe(Desired(small()))}, images: map[string]string{"base": "img2"},
		servers: []ObservedServer{server("s1", "t-web-01", "img1"), server("s2", "t-web-02", "")}}
	p, err := Make(context.Background(), fleetConfig(2, "base", false), obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(serverChanges(p), ", "); got != "rebuild t-web-01, rebuild t-web-02" {
		t.Fatalf("changes: %s", got)
	}
	var text strings.Builder
	WriteText(&text, p, false)
	for _, want := range []string{"will be REBUILT", "the root disk is wiped; id, ports and addresses are kept",
		"boots from a volume, so Nova API microversion 2.93 is needed", "only with -allow-rebuild", "0 to add, 2 to change, 0 to destroy"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan text lacks %q:\n%s", want, text.String())
		}
	}
}

// A volume-backed server on a cloud without microversion 2.93: the plan says the rebuild
// will be refused; with 2.93 it does not.
func TestFleetVolumeRebuildNeedsMicroversion(t *testing.T) {
	for _, tc := range []struct {
		max     string
		refused bool
	}{{"2.90", true}, {"2.93", false}, {"2.96", false}, {"", false}} {
		obs := fakeFleets{fakeObserver: fakeObserver{observe(Desired(small()))}, images: map[string]string{"base": "img2"},
			servers: []ObservedServer{server("s2", "t-web-01", "")}, maxMicroversion: tc.max}
		p, err := Make(context.Background(), fleetConfig(1, "base", false), obs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		WriteText(&text, p, false)
		said := strings.Contains(text.String(), "this cloud's compute API stops at "+tc.max+": the rebuild will be refused")
		warned := len(p.Warnings) == 1 && strings.Contains(p.Warnings[0], "supports up to "+tc.max)
		if said != tc.refused || warned != tc.refused {
			t.Errorf("max %q: plan says refused %t, warns %t; want %t:\n%s", tc.max, said, warned, tc.refused, text.String())
		}
	}
}

func TestFleetWaitsForUnbuiltImage(t *testing.T) {
	obs := fakeFleets{fakeObserver: fakeObserver{observe(Desired(small()))}, images: map[string]string{}}
	p, err := Make(context.Background(), fleetConfig(3, "node", true), obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(serverChanges(p)) != 0 || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "hardenctl image build node") {
		t.Errorf("changes %v, warnings %v; want none and a warning to build the image", serverChanges(p), p.Warnings)
	}
}

func TestDestroyDeletesFleetServers(t *testing.T) {
	obs := fakeFleets{fakeObserver: fakeObserver{observe(Desired(small()))}, servers: []ObservedServer{server("s1", "t-web-01", "img1")}}
	p, err := Make(context.Background(), fleetConfig(1, "base", false), obs, Options{Destroy: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(serverChanges(p), ", "); got != "delete t-web-01" {
		t.Errorf("destroy: %s", got)
	}
}
