// Package imagestest has fakes of what the image pipeline depends on: a Cloud that tracks
// what exists, an SSH whose builders run every script successfully, and a canned hardening
// run. The pipeline's own tests and the CLI's golden tests build against them; the real
// pipeline is tested on the test bed (cmd/hardenctl image_integration_test.go).
package imagestest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/images"
)

// Cloud tracks what exists, by "server:ID", "keypair:NAME", "group:ID", "image:ID". Its
// exported fields set its behaviour; read the others through its methods after a build.
type Cloud struct {
	Console  string // what ConsoleOutput returns
	FailBoot bool   // WaitServer fails as Nova does when no host is found
	// Images is what FindImages returns (every one, like a cloud whose tag filter is
	// ignored); nil: one active base image.
	Images    []images.Image
	NoBastion bool             // FindSecurityGroup finds nothing
	Left      images.Leftovers // what FindBuildLeftovers finds
	Snapshots []images.Image   // what a query by build property finds

	mu sync.Mutex
	n  int
	// live is what exists now; deleted and created are in order.
	live             map[string]bool
	deleted, created []string
	buildGroupRemote string
	gcQuery          []string
}

var _ images.Cloud = (*Cloud)(nil)

// NewCloud returns an empty cloud with one base image.
func NewCloud() *Cloud { return &Cloud{live: map[string]bool{}} }

func (f *Cloud) add(kind string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("%s-%d", kind, f.n)
	f.live[kind+":"+id] = true
	f.created = append(f.created, kind+":"+id)
	return id
}

func (f *Cloud) del(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, key)
	f.deleted = append(f.deleted, key)
	return nil
}

// Live lists what exists now.
func (f *Cloud) Live() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.live {
		out = append(out, k)
	}
	return out
}

// Deleted lists what was deleted (and "deactivate:ID" for deactivated images), in order.
func (f *Cloud) Deleted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.deleted...)
}

// Created lists what was created, in order.
func (f *Cloud) Created() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.created...)
}

// BuildGroupRemote is the bastion group the last build group was made for.
func (f *Cloud) BuildGroupRemote() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buildGroupRemote
}

// GCQueries are the FindBuildLeftovers queries, as "tags prefix".
func (f *Cloud) GCQueries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.gcQuery...)
}

func (f *Cloud) FindImages(_ context.Context, q images.ImageQuery) ([]images.Image, error) {
	if len(q.Properties) > 0 {
		return f.Snapshots, nil // images of earlier builds, as a cloud that ignores filters lists them
	}
	if f.Images == nil {
		return []images.Image{{ID: "base", Name: "debian-12-base", Status: "active"}}, nil
	}
	return f.Images, nil
}

func (f *Cloud) FindSecurityGroup(_ context.Context, name string, tags []string) (string, error) {
	if f.NoBastion {
		return "", fmt.Errorf("no security group %s tagged %v", name, tags)
	}
	return "bastion-group-id", nil
}

func (f *Cloud) CreateKeyPair(_ context.Context, name, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live["keypair:"+name] = true
	f.created = append(f.created, "keypair:"+name)
	return nil
}

func (f *Cloud) DeleteKeyPair(_ context.Context, name string) error { return f.del("keypair:" + name) }

func (f *Cloud) CreateBuildGroup(_ context.Context, _, bastionGroupID string, _ []string) (string, error) {
	f.mu.Lock()
	f.buildGroupRemote = bastionGroupID
	f.mu.Unlock()
	return f.add("group"), nil
}

func (f *Cloud) DeleteSecurityGroup(_ context.Context, id string) error { return f.del("group:" + id) }

func (f *Cloud) CreateServer(context.Context, images.ServerSpec) (string, error) {
	return f.add("server"), nil
}

func (f *Cloud) WaitServer(_ context.Context, id, status string) (images.Server, error) {
	if f.FailBoot {
		return images.Server{}, errors.New("server " + id + " went to ERROR: No valid host was found")
	}
	return images.Server{ID: id, Status: status, Address: "10.252.0.40"}, nil
}

func (f *Cloud) ConsoleOutput(context.Context, string) (string, error) { return f.Console, nil }
func (f *Cloud) StopServer(context.Context, string) error              { return nil }
func (f *Cloud) DeleteServer(_ context.Context, id string) error       { return f.del("server:" + id) }

func (f *Cloud) Snapshot(context.Context, string, string, map[string]string) (string, error) {
	return f.add("image"), nil
}

func (f *Cloud) WaitImage(_ context.Context, id string) (images.Image, error) {
	return images.Image{ID: id, Status: "active"}, nil
}

func (f *Cloud) SetImageProperties(context.Context, string, map[string]string, []string) error {
	return nil
}

func (f *Cloud) DeactivateImage(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, "deactivate:"+id)
	return nil
}

func (f *Cloud) DeleteImage(_ context.Context, id string) error { return f.del("image:" + id) }

func (f *Cloud) FindBuildLeftovers(_ context.Context, tags []string, prefix string) (images.Leftovers, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gcQuery = append(f.gcQuery, fmt.Sprint(tags, " ", prefix))
	return f.Left, nil
}

// HostKeysConsole is a console on which a builder has printed its host keys (what SSH
// looks for).
const HostKeysConsole = "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpWtDsDf+mzCzHXZ1Au5Hp84mXzvX2M9WKCwqKf0c5n\n-----END SSH HOST KEY KEYS-----\n"

// SSH is a fake transport: it makes a fixed key pair, finds host keys on a console that has
// HostKeysConsole's block, and dials builders on which every command succeeds. DialErr
// fails every dial; NoDialer fails making the dialer.
type SSH struct {
	DialErr  error
	NoDialer bool

	mu       sync.Mutex
	dialers  []*dialer
	commands []string
	uploads  map[string]string
}

var _ images.SSH = (*SSH)(nil)

func (*SSH) NewKeyPair(string) ([]byte, string, error) {
	return []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"), "ssh-ed25519 AAAAfake", nil
}

func (*SSH) ConsoleKnownHosts(console, address string) (string, error) {
	if console != HostKeysConsole {
		return "", nil
	}
	return address + " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpWtDsDf+mzCzHXZ1Au5Hp84mXzvX2M9WKCwqKf0c5n\n", nil
}

func (*SSH) WriteKnownHosts(path, lines string) error {
	return os.WriteFile(path, []byte(lines), 0o600)
}

func (s *SSH) Dialer(context.Context, string, string) (hardening.Dialer, error) {
	if s.NoDialer {
		return nil, errors.New("no SSH in this test")
	}
	d := &dialer{s: s}
	s.mu.Lock()
	s.dialers = append(s.dialers, d)
	s.mu.Unlock()
	return d, nil
}

// Open counts the dialers and sessions still open.
func (s *SSH) Open() (dialers, sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dialers {
		if !d.closed {
			dialers++
		}
		sessions += d.open
	}
	return dialers, sessions
}

// Dials counts the sessions opened.
func (s *SSH) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.dialers {
		n += d.dials
	}
	return n
}

// Commands are the scripts run on builders, in order.
func (s *SSH) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Uploads are the files uploaded to builders, by path.
func (s *SSH) Uploads() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.uploads {
		out[k] = v
	}
	return out
}

type dialer struct {
	s      *SSH
	closed bool
	open   int
	dials  int
}

func (d *dialer) Dial(context.Context, hardening.Host) (hardening.Conn, error) {
	if d.s.DialErr != nil {
		return nil, d.s.DialErr
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.open++
	d.dials++
	return &Conn{d: d}, nil
}

func (d *dialer) Close() error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.closed = true
	return nil
}

// Conn is a session on which every command exits 0.
type Conn struct {
	d      *dialer
	closed bool
}

func (c *Conn) Run(_ context.Context, cmd string, _, _ io.Writer) (int, error) {
	c.d.s.mu.Lock()
	defer c.d.s.mu.Unlock()
	c.d.s.commands = append(c.d.s.commands, cmd)
	return 0, nil
}

func (c *Conn) Upload(_ context.Context, p string, r io.Reader, _ uint32) error {
	b, err := io.ReadAll(r)
	c.d.s.mu.Lock()
	defer c.d.s.mu.Unlock()
	if c.d.s.uploads == nil {
		c.d.s.uploads = map[string]string{}
	}
	c.d.s.uploads[p] = string(b)
	return err
}

func (c *Conn) Download(context.Context, string, io.Writer) error {
	return errors.New("imagestest: no downloads")
}

func (c *Conn) Close() error {
	c.d.s.mu.Lock()
	defer c.d.s.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.d.open--
	}
	return nil
}

// Harden is a hardening run that scores score (failing no rule): set it as Pipeline.Harden.
func Harden(score float64) func(context.Context, *hardening.Scanner, hardening.Host) hardening.HostResult {
	return func(_ context.Context, s *hardening.Scanner, h hardening.Host) hardening.HostResult {
		st := hardening.StatusCompliant
		return hardening.HostResult{Host: h.Name, Address: h.Address, Status: st,
			Datastream:  hardening.Datastream{Name: "ssg-debian12-ds.xml", SHA256: "0123abcd"},
			SCAPProfile: "xccdf_org.ssgproject.content_profile_standard",
			Result:      &hardening.Result{Score: score, ScoringSystem: "urn:xccdf:scoring:default", Profile: "xccdf_org.ssgproject.content_profile_standard"}}
	}
}
