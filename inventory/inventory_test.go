package inventory

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/remote"
)

const key = "AAAAC3NzaC1lZDI1NTE5AAAAIBpWtDsDf+mzCzHXZ1Au5Hp84mXzvX2M9WKCwqKf0c5n"

const withKeys = "boot\n-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 " + key + " root@x\n-----END SSH HOST KEY KEYS-----\n"

// fakeCloud has servers and consoles; a console shows its keys only from the reads-th read on.
type fakeCloud struct {
	servers []plan.ObservedServer
	keysAt  map[string]int // server id -> the read that first shows keys
	mu      sync.Mutex
	reads   map[string]int
}

func (f *fakeCloud) ObserveServers(context.Context, []string) ([]plan.ObservedServer, error) {
	return f.servers, nil
}

func (f *fakeCloud) ConsoleOutput(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[id]++
	if f.reads[id] >= f.keysAt[id] {
		return withKeys, nil
	}
	return "boot\n", nil
}

func server(id, name, fleet, addr string) plan.ObservedServer {
	return plan.ObservedServer{ID: id, Name: name, Address: addr, Tags: []string{"hardenctl-fleet:" + fleet}}
}

func sampleConfig() *config.Config {
	return &config.Config{Name: "site",
		Zones:  []*config.Zone{{Name: "app"}, {Name: "data"}},
		Fleets: []*config.Fleet{{Name: "web", Zone: "app"}, {Name: "api", Zone: "app"}, {Name: "db", Zone: "data"}}}
}

func TestSelectFleets(t *testing.T) {
	cfg := sampleConfig()
	got, err := SelectFleets(cfg, []string{"db"}, []string{"app"})
	if err != nil || strings.Join(got, ",") != "api,db,web" {
		t.Errorf("SelectFleets = %v, %v; want api,db,web", got, err)
	}
	if _, err := SelectFleets(cfg, []string{"nope"}, nil); err == nil || !strings.Contains(err.Error(), `no fleet "nope"`) {
		t.Errorf("unknown fleet: %v", err)
	}
	if _, err := SelectFleets(cfg, nil, []string{"dmz"}); err == nil || !strings.Contains(err.Error(), `no zone "dmz"`) {
		t.Errorf("unknown zone: %v", err)
	}
}

func TestFleetsWaitsForConsoleKeys(t *testing.T) {
	cloud := &fakeCloud{reads: map[string]int{}, keysAt: map[string]int{"2": 3, "1": 1},
		servers: []plan.ObservedServer{
			server("2", "site-web-02", "web", "10.0.0.2"),
			server("1", "site-web-01", "web", "10.0.0.1"),
			server("3", "site-db-01", "db", "10.0.0.3"), // another fleet
			server("4", "site-web-03", "web", ""),       // no address yet
		}}
	hosts, err := Fleets(context.Background(), cloud, sampleConfig(), []string{"web"}, Options{KeyWait: time.Second, Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0].Name != "site-web-01" || hosts[1].Name != "site-web-02" {
		t.Fatalf("hosts = %+v; want site-web-01, site-web-02 in order", hosts)
	}
	if len(hosts[1].Keys) != 1 || cloud.reads["2"] != 3 {
		t.Errorf("server 2: keys %v after %d reads; want its key after waiting for the 3rd read", hosts[1].Keys, cloud.reads["2"])
	}
	base := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(base, []byte("bastion ssh-ed25519 "+key), 0o600); err != nil {
		t.Fatal(err)
	}
	path, cleanup, err := KnownHosts(base, hosts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "bastion ssh-ed25519 " + key + "\n" + remote.KnownHostsLines("10.0.0.1", hosts[0].Keys) + remote.KnownHostsLines("10.0.0.2", hosts[1].Keys)
	if string(b) != want {
		t.Errorf("known_hosts =\n%s\nwant\n%s", b, want)
	}
	cleanup()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s", path)
	}
}

func TestFleetsWithoutKeysAfterTheWait(t *testing.T) {
	cloud := &fakeCloud{reads: map[string]int{}, keysAt: map[string]int{"1": 1 << 30},
		servers: []plan.ObservedServer{server("1", "site-web-01", "web", "10.0.0.1")}}
	hosts, err := Fleets(context.Background(), cloud, sampleConfig(), []string{"web"}, Options{KeyWait: 20 * time.Millisecond, Poll: 5 * time.Millisecond})
	if err != nil || len(hosts) != 1 || hosts[0].Keys != nil {
		t.Fatalf("hosts %+v, err %v; want the host without keys (known_hosts must have it)", hosts, err)
	}
	if cloud.reads["1"] < 2 {
		t.Errorf("read the console %d times; want it polled during the wait", cloud.reads["1"])
	}
	if _, err := Fleets(context.Background(), cloud, sampleConfig(), []string{"db"}, Options{}); err == nil || !strings.Contains(err.Error(), "no servers with an address in fleets db") {
		t.Errorf("empty fleet: %v", err)
	}
}
