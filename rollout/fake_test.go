package rollout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/lock"
)

// fakeNova models what the engine relies on of Nova and Glance: a rebuild sets the image at
// once (Nova's API does), replaces the metadata, puts the server in REBUILD until it is done
// (then ACTIVE, or ERROR), refuses a second rebuild while one runs (409), and is recorded as
// an instance action; volume-backed servers show no image. It also keeps the truth the
// guarantee is about: a server is down from its rebuild's acceptance until its healthy mark
// lands, or while ERROR or failing its probe; at each accepted rebuild the servers down
// (this one included) must stay within budget.
type fakeNova struct {
	t      *testing.T
	budget int

	mu      sync.Mutex
	servers map[string]*fakeServer
	images  map[string]*fakeImage
	reqs    int
	lists   int
	// listErr, when set, is asked before each list (n counts the lists).
	listErr func(n int) error
	// rebuildTime is how long a rebuild takes (default 2-6 ms).
	rebuildTime func(id string) time.Duration
	// toError makes the rebuild of a server onto an image end in ERROR.
	toError map[string]string
	// setMetaErr fails SetMetadata when it returns an error.
	setMetaErr func(id string) error
	// foreign are images of another project: ProtectImage refuses them.
	foreign map[string]bool

	peak       int
	violations []string
	rebuilds   []string // "name>image" in the order accepted
}

type fakeServer struct {
	Server
	image   string    // the truth, also for volume-backed servers
	doneAt  time.Time // the running rebuild ends
	down    bool
	actions []Action
	// volumeImage: the provider knows a volume-backed server's image (from its volume) until
	// the next rebuild; after it, the engine goes by the marks.
	volumeImage bool
}

type fakeImage struct {
	protected bool
	holds     map[string]bool
	wasHeld   bool // a hold was ever taken
}

func newFakeNova(t *testing.T, n int, image string, budget int) *fakeNova {
	f := &fakeNova{t: t, budget: budget, servers: map[string]*fakeServer{}, images: map[string]*fakeImage{},
		toError: map[string]string{}}
	for i := range n {
		id := fmt.Sprintf("id-%02d", i+1)
		f.servers[id] = &fakeServer{Server: Server{ID: id, Name: fmt.Sprintf("app-%02d", i+1), Address: fmt.Sprintf("10.0.0.%d", i+1),
			Status: "ACTIVE", ImageID: image, Metadata: map[string]string{"hardenctl_fleet": "app"}}, image: image}
	}
	f.images[image] = &fakeImage{holds: map[string]bool{}}
	return f
}

func (f *fakeNova) addImage(id string) {
	f.mu.Lock()
	f.images[id] = &fakeImage{holds: map[string]bool{}}
	f.mu.Unlock()
}

// settle finishes the rebuilds that are due.
func (f *fakeNova) settleLocked() {
	now := time.Now()
	for _, s := range f.servers {
		if s.Status == "REBUILD" && !now.Before(s.doneAt) {
			s.Status = "ACTIVE"
			if f.toError[s.ID] == s.image {
				s.Status = "ERROR"
			}
			a := &s.actions[len(s.actions)-1]
			a.Finish = s.doneAt
			a.Failed = s.Status == "ERROR"
		}
	}
}

func (f *fakeNova) ListFleet(ctx context.Context, tags []string) ([]Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.listErr != nil {
		if err := f.listErr(f.lists); err != nil {
			return nil, err
		}
	}
	f.settleLocked()
	var out []Server
	for _, s := range f.servers {
		c := s.Server
		c.Metadata = maps.Clone(s.Metadata)
		if c.VolumeBacked && !s.volumeImage {
			c.ImageID = ""
		} else {
			c.ImageID = s.image
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

var errConflict = errors.New("409 conflict: instance is in task_state rebuilding")

func (f *fakeNova) Rebuild(ctx context.Context, id, image string, md map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settleLocked()
	s, ok := f.servers[id]
	if !ok {
		return "", errors.New("404 server not found")
	}
	if _, ok := f.images[image]; !ok {
		return "", errors.New("400 image not found")
	}
	if s.Status == "REBUILD" {
		return "", errConflict
	}
	if err := checkMetadata(md); err != nil {
		return "", fmt.Errorf("400 %w", err)
	}
	f.reqs++
	req := fmt.Sprintf("req-%04d", f.reqs)
	s.Status, s.image, s.Metadata = "REBUILD", image, maps.Clone(md)
	s.volumeImage = false
	d := time.Duration(2+rand.IntN(5)) * time.Millisecond
	if f.rebuildTime != nil {
		d = f.rebuildTime(id)
	}
	s.doneAt = time.Now().Add(d)
	s.actions = append(s.actions, Action{ServerID: id, Server: s.Name, Action: "rebuild", RequestID: req, Start: time.Now()})
	s.down = true
	f.rebuilds = append(f.rebuilds, s.Name+">"+image)
	n := 0
	for _, o := range f.servers {
		if o.down || o.Status == "ERROR" {
			n++
		}
	}
	f.peak = max(f.peak, n)
	if n > f.budget {
		f.violations = append(f.violations, fmt.Sprintf("rebuild of %s accepted with %d servers down, budget %d", s.Name, n, f.budget))
	}
	return req, nil
}

func (f *fakeNova) WaitRebuild(ctx context.Context, srv Server, image, req string) error {
	for {
		f.mu.Lock()
		f.settleLocked()
		s := f.servers[srv.ID]
		status, cur := s.Status, s.image
		var act *Action
		for i := len(s.actions) - 1; i >= 0; i-- {
			if s.actions[i].RequestID == req || req == "" {
				act = &s.actions[i]
				break
			}
		}
		finished := act != nil && !act.Finish.IsZero() || act == nil && req == ""
		vb := s.VolumeBacked
		f.mu.Unlock()
		switch {
		case status == "ERROR":
			return fmt.Errorf("server %s went to ERROR", srv.Name)
		case vb && finished && status == "ACTIVE":
			return nil
		case !vb && status == "ACTIVE" && cur == image:
			return nil
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return fmt.Errorf("wait for rebuild of %s: %w", srv.Name, err)
		}
	}
}

func (f *fakeNova) SetMetadata(ctx context.Context, id string, items map[string]string) error {
	if f.setMetaErr != nil {
		if err := f.setMetaErr(id); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settleLocked()
	s := f.servers[id]
	if s.Status == "REBUILD" {
		return errConflict // Nova refuses metadata writes while a rebuild runs
	}
	maps.Copy(s.Metadata, items)
	if p := Phase(items[MarkPhase]); p == PhaseHealthy || p == PhaseRolledBack {
		s.down = false
	}
	return checkMetadata(s.Metadata)
}

func (f *fakeNova) ImageExists(ctx context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.images[id]
	return ok, nil
}

func (f *fakeNova) ProtectImage(ctx context.Context, id, holder string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	im, ok := f.images[id]
	if !ok {
		return errors.New("404 image")
	}
	if f.foreign[id] {
		return fmt.Errorf("protect image %s: %w", id, ErrImageNotOwned)
	}
	im.protected, im.wasHeld = true, true
	im.holds[holder] = true
	return nil
}

func (f *fakeNova) ReleaseImage(ctx context.Context, id, holder string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	im, ok := f.images[id]
	if !ok {
		return nil
	}
	delete(im.holds, holder)
	im.protected = len(im.holds) > 0
	return nil
}

func (f *fakeNova) deleteImage(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.images[id].protected {
		return errors.New("403 image is protected")
	}
	delete(f.images, id)
	return nil
}

func (f *fakeNova) InstanceActions(ctx context.Context, id string) ([]Action, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settleLocked()
	return append([]Action(nil), f.servers[id].actions...), nil
}

// check fails the test for every budget violation, and for servers not on want or not
// marked healthy (want "" skips that).
func (f *fakeNova) check(want string, phase Phase) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settleLocked()
	for _, v := range f.violations {
		f.t.Error(v)
	}
	if want == "" {
		return
	}
	for _, s := range f.servers {
		m, _ := ReadMarks(s.Metadata)
		if s.image != want || s.Status != "ACTIVE" || m.Phase != phase {
			f.t.Errorf("server %s: image %s, status %s, phase %q; want %s, ACTIVE, %q", s.Name, s.image, s.Status, m.Phase, want, phase)
		}
		if s.Metadata["hardenctl_fleet"] != "app" {
			f.t.Errorf("server %s lost its other metadata: %v", s.Name, s.Metadata)
		}
	}
	for id, im := range f.images {
		if im.protected {
			f.t.Errorf("image %s still protected (holds %v)", id, im.holds)
		}
	}
}

// fakeGate passes or fails by the image a server runs; probes fail for the servers in
// probeFail.
type fakeGate struct {
	f *fakeNova
	// fail maps an image to the gate that fails on it: "ssh", "tcp", "score".
	mu        sync.Mutex
	fail      map[string]string
	failID    map[string]string // or by server id
	score     float64
	probeFail map[string]bool
	connects  atomic.Int32
}

func newFakeGate(f *fakeNova) *fakeGate {
	return &fakeGate{f: f, fail: map[string]string{}, failID: map[string]string{}, score: 95, probeFail: map[string]bool{}}
}

func (g *fakeGate) failing(s Server) string {
	g.f.mu.Lock()
	img := g.f.servers[s.ID].image
	g.f.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if w := g.failID[s.ID]; w != "" && img == "img-B" {
		return w
	}
	return g.fail[img]
}

func (g *fakeGate) setFail(image, what string) { g.mu.Lock(); g.fail[image] = what; g.mu.Unlock() }

func (g *fakeGate) Connect(ctx context.Context, s Server, since time.Time) (Session, error) {
	g.connects.Add(1)
	if g.failing(s) == "ssh" {
		return nil, fmt.Errorf("ssh %s: host key mismatch", s.Name)
	}
	return &fakeSession{g: g, s: s}, nil
}

func (g *fakeGate) Probe(ctx context.Context, s Server, h config.Health) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.probeFail[s.ID] {
		return fmt.Errorf("probe %s: connection refused", s.Name)
	}
	return nil
}

type fakeSession struct {
	g *fakeGate
	s Server
}

func (ss *fakeSession) TCP(ctx context.Context, port int) error {
	if ss.g.failing(ss.s) == "tcp" {
		return fmt.Errorf("port %d closed on %s", port, ss.s.Name)
	}
	return nil
}

func (ss *fakeSession) Scan(ctx context.Context) (Scan, error) {
	if ss.g.failing(ss.s) == "score" {
		return Scan{Score: 42, Detail: "many failed"}, nil
	}
	return Scan{Score: ss.g.score, Detail: "ok"}, nil
}

func (ss *fakeSession) Close() error { return nil }

// fakeControl is the lock's inbox in memory.
type fakeControl struct {
	mu   sync.Mutex
	n    int
	reqs []lock.Request
	// obeyed records the kinds in the order obeyed.
	obeyed []string
}

func (c *fakeControl) send(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.reqs = append(c.reqs, lock.Request{ID: fmt.Sprint(c.n), Kind: kind, By: "op@test", At: time.Now()})
}

func (c *fakeControl) Requests(ctx context.Context) ([]lock.Request, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]lock.Request(nil), c.reqs...), nil
}

func (c *fakeControl) Obeyed(ctx context.Context, r lock.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, q := range c.reqs {
		if q.ID == r.ID {
			c.reqs = append(c.reqs[:i], c.reqs[i+1:]...)
			c.obeyed = append(c.obeyed, r.Kind)
			break
		}
	}
	return nil
}

// crashing stands for a process killed with SIGKILL: after `after` calls (to the cloud or
// the gate) every call fails and the run's context is cancelled; the call at the crash
// point reaches the cloud or not, at random (an answer lost on the way back).
type crashing struct {
	Cloud
	gate   Gate
	after  int32
	n      atomic.Int32
	cancel context.CancelFunc
	rng    *rand.Rand
	mu     sync.Mutex
}

var errKilled = errors.New("killed")

// step returns whether the call may reach the cloud, and whether its answer is lost.
func (c *crashing) step() (reach, lost bool) {
	n := c.n.Add(1)
	switch {
	case n < c.after:
		return true, false
	case n == c.after:
		c.cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.rng.IntN(2) == 0, true
	}
	return false, true
}

func (c *crashing) crashed() bool { return c.n.Load() >= c.after }

func crashCall[T any](c *crashing, fn func() (T, error)) (T, error) {
	reach, lost := c.step()
	var zero T
	if !reach {
		return zero, errKilled
	}
	v, err := fn()
	if lost {
		return zero, errKilled
	}
	return v, err
}

func (c *crashing) ListFleet(ctx context.Context, tags []string) ([]Server, error) {
	return crashCall(c, func() ([]Server, error) { return c.Cloud.ListFleet(ctx, tags) })
}
func (c *crashing) Rebuild(ctx context.Context, id, image string, md map[string]string) (string, error) {
	return crashCall(c, func() (string, error) { return c.Cloud.Rebuild(ctx, id, image, md) })
}
func (c *crashing) WaitRebuild(ctx context.Context, s Server, image, req string) error {
	_, err := crashCall(c, func() (int, error) { return 0, c.Cloud.WaitRebuild(ctx, s, image, req) })
	return err
}
func (c *crashing) SetMetadata(ctx context.Context, id string, items map[string]string) error {
	_, err := crashCall(c, func() (int, error) { return 0, c.Cloud.SetMetadata(ctx, id, items) })
	return err
}
func (c *crashing) ImageExists(ctx context.Context, id string) (bool, error) {
	return crashCall(c, func() (bool, error) { return c.Cloud.ImageExists(ctx, id) })
}
func (c *crashing) ProtectImage(ctx context.Context, id, holder string) error {
	_, err := crashCall(c, func() (int, error) { return 0, c.Cloud.ProtectImage(ctx, id, holder) })
	return err
}
func (c *crashing) ReleaseImage(ctx context.Context, id, holder string) error {
	_, err := crashCall(c, func() (int, error) { return 0, c.Cloud.ReleaseImage(ctx, id, holder) })
	return err
}
func (c *crashing) Connect(ctx context.Context, s Server, since time.Time) (Session, error) {
	return crashCall(c, func() (Session, error) { return c.gate.Connect(ctx, s, since) })
}
func (c *crashing) Probe(ctx context.Context, s Server, h config.Health) error {
	_, err := crashCall(c, func() (int, error) { return 0, c.gate.Probe(ctx, s, h) })
	return err
}
