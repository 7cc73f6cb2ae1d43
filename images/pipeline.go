package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/hardening"
)

// Pipeline builds images. Its fields are its dependencies.
type Pipeline struct {
	Cloud Cloud
	SSH   SSH
	// RunDir receives the builder's scan results (ARF, report).
	RunDir string
	Logger *slog.Logger
	// Hook receives each step's start and end (Kind image, Address the image's name, Action
	// the step's name) and the whole build's ("build"); its Halt stops the build before the
	// next step (the cleanups still run). Nil: event.Nop.
	Hook event.Hook
	// Harden, when set, runs the hardening and scan of the builder instead of the scanner's
	// Host (tests; nil in the CLI).
	Harden func(ctx context.Context, s *hardening.Scanner, h hardening.Host) hardening.HostResult
	// Now and NewID are replaced in tests.
	Now   func() time.Time
	NewID func() string
}

// Timing is how long one step took.
type Timing struct {
	Step    string        `json:"step"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Result is a finished build.
type Result struct {
	BuildID  string                `json:"build_id"`
	Image    Image                 `json:"image"` // the published image (empty when gated)
	Source   Image                 `json:"source"`
	Scan     *hardening.HostResult `json:"scan,omitempty"`
	Score    float64               `json:"score"`
	Gated    bool                  `json:"gated"` // below min_score: nothing published
	Retired  []string              `json:"retired,omitempty"`
	Timings  []Timing              `json:"timings"`
	Duration time.Duration         `json:"duration_ns"`
	Kept     *KeptBuilder          `json:"kept,omitempty"` // what a failed build kept (KeepBuilderOnFailure)
}

// GateError says the image did not reach the compliance gate; nothing was published.
type GateError struct {
	Image    string
	Score    float64
	MinScore float64
	Failed   []hardening.RuleResult // the failed rules, high severity first
}

func (e *GateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %s scored %.2f, below min_score %.2f: nothing was published", e.Image, e.Score, e.MinScore)
	if len(e.Failed) > 0 {
		b.WriteString("; failed rules:")
		for i, r := range e.Failed {
			if i == 10 {
				fmt.Fprintf(&b, " ... and %d more", len(e.Failed)-10)
				break
			}
			fmt.Fprintf(&b, " %s (%s)", strings.TrimPrefix(r.IDRef, "xccdf_org.ssgproject.content_rule_"), r.Severity)
		}
	}
	return b.String()
}

// build is the typed state the steps share. Each field is set by the step that made it.
type build struct {
	spec Spec
	id   string
	name string // the builder's name and the temporary resources' name
	// keep: the build failed and spec.KeepBuilderOnFailure asks to keep the builder, its key
	// pair, its group and the private key to reach it (set before the cleanups run).
	keep bool

	workDir    string           // prepare: private, holds the key and known_hosts
	source     Image            // resolve source
	bastion    string           // bastion group: the bastion's security group id
	keyFile    string           // key pair: the private key
	keyPair    string           // key pair: its Nova name
	groupID    string           // security group
	server     Server           // boot builder
	knownHosts string           // wait for ssh: the builder's console keys plus the operator's file
	dialer     hardening.Dialer // wait for ssh
	conn       hardening.Conn   // the current session: wait for ssh's, then harden and scan's
	scan       *hardening.HostResult
	imageID    string // snapshot
	image      Image
	retired    []string
}

// step is one stage of the pipeline, one file each (step_*.go). Cleanup undoes exactly what
// Run created (nothing when Run did not get that far), and runs in reverse order on
// success, failure or interrupt alike, with a context of its own; a step that made part of
// the builder keeps it when b.keep is set.
type step interface {
	Name() string
	Run(ctx context.Context, b *build) error
	Cleanup(ctx context.Context, b *build) error
}

// noCleanup is embedded by the steps that create nothing.
type noCleanup struct{}

func (noCleanup) Cleanup(context.Context, *build) error { return nil }

// cleanupTimeout bounds each step's cleanup, whose context survives Ctrl-C.
const cleanupTimeout = 5 * time.Minute

// KeptBuilder is what a failed build kept for debugging (spec.KeepBuilderOnFailure), and how
// to reach it: ssh -i KeyFile -o UserKnownHostsFile=KnownHosts -J <bastion> user@Address.
// image gc (or the next build of the configuration) removes it all.
type KeptBuilder struct {
	Server     string `json:"server"`
	Address    string `json:"address,omitempty"`
	KeyPair    string `json:"key_pair,omitempty"`
	Group      string `json:"security_group,omitempty"`
	KeyFile    string `json:"key_file,omitempty"`    // the private key of KeyPair
	KnownHosts string `json:"known_hosts,omitempty"` // the builder's host keys (and the operator's)
}

// Build runs the pipeline for spec. Whatever happens, what the build made is removed at
// the end (unless spec.KeepBuilderOnFailure and the build failed: then Result.Kept says
// what stays and where its key is), each step's cleanup with a fresh context of its own
// if ctx was cancelled (Ctrl-C).
func (p *Pipeline) Build(ctx context.Context, spec Spec) (res *Result, err error) {
	p.defaults()
	b := &build{spec: spec, id: p.NewID()}
	b.name = buildPrefix(spec.Config) + spec.Name + "-" + b.id
	res = &Result{BuildID: b.id}
	start := p.Now()
	gate := event.NewGate(p.Hook)
	unit := event.Event{Kind: event.KindImage, Address: spec.Name, Action: "build"}
	var done []step
	defer func() {
		b.keep = err != nil && spec.KeepBuilderOnFailure
		for i := len(done) - 1; i >= 0; i-- {
			s := done[i]
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			if cerr := s.Cleanup(cctx, b); cerr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after %s: %w", s.Name(), cerr))
			}
			cancel()
		}
		if b.keep && b.server.ID != "" {
			res.Kept = &KeptBuilder{Server: b.server.ID, Address: b.server.Address, KeyPair: b.keyPair, Group: b.groupID, KeyFile: b.keyFile, KnownHosts: b.knownHosts}
			p.Logger.Warn("kept the failed builder for debugging; image gc removes it", "server", b.server.ID, "address", b.server.Address,
				"key_pair", b.keyPair, "group", b.groupID, "key_file", b.keyFile, "known_hosts", b.knownHosts)
			gate.Send(event.Event{Kind: event.KindImage, Address: spec.Name, Action: "keep builder", Phase: event.Info, Status: "kept",
				Message: fmt.Sprintf("kept builder %s (%s), key pair %s, group %s; private key %s", b.server.ID, b.server.Address, b.keyPair, b.groupID, b.keyFile)})
		}
		res.Duration = p.Now().Sub(start)
		res.Source, res.Image, res.Scan, res.Retired = b.source, b.image, b.scan, b.retired
		end := unit
		end.Phase, end.Err, end.Elapsed = event.End, err, res.Duration
		if b.scan != nil && b.scan.Result != nil {
			score := res.Score
			end.Score = &score
		}
		switch {
		case errors.Is(err, event.ErrHalted):
			end.Status = "halted"
		case res.Gated:
			end.Status = "below-minimum"
		case err == nil:
			end.Status, end.Message = "published", fmt.Sprintf("image %s from %s", b.image.ID, b.source.Name)
		}
		gate.Send(end)
	}()
	start1 := unit
	start1.Phase = event.Start
	gate.Send(start1)
	for _, s := range p.steps() {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("build %s interrupted before %s: %w", spec.Name, s.Name(), err)
		}
		if gate.Halted() {
			return res, fmt.Errorf("build %s stopped before %s: %w", spec.Name, s.Name(), event.ErrHalted)
		}
		ev := event.Event{Kind: event.KindImage, Address: spec.Name, Action: s.Name(), Phase: event.Start}
		if gate.Send(ev) == event.Halt {
			ev.Phase, ev.Status, ev.Err = event.End, "halted", event.ErrHalted
			gate.Send(ev)
			return res, fmt.Errorf("build %s stopped before %s: %w", spec.Name, s.Name(), event.ErrHalted)
		}
		t0 := p.Now()
		done = append(done, s)
		serr := s.Run(ctx, b)
		el := p.Now().Sub(t0)
		res.Timings = append(res.Timings, Timing{Step: s.Name(), Elapsed: el})
		ev.Phase, ev.Err, ev.Elapsed = event.End, serr, el
		gate.Send(ev)
		if b.scan != nil && b.scan.Result != nil {
			res.Score = b.scan.Result.Score
		}
		if serr != nil {
			var gate *GateError
			res.Gated = errors.As(serr, &gate)
			return res, fmt.Errorf("build %s: %s: %w", spec.Name, s.Name(), serr)
		}
	}
	return res, nil
}

func (p *Pipeline) defaults() {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	p.Hook = event.OrNop(p.Hook)
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.NewID == nil {
		p.NewID = func() string {
			var b [4]byte
			rand.Read(b[:])
			return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
		}
	}
}

// steps is the pipeline, in order; each step is in its own file.
func (p *Pipeline) steps() []step {
	return []step{
		&stepCleanEarlier{p: p},
		&stepPrepare{},
		&stepResolveSource{p: p},
		&stepBastionGroup{p: p},
		&stepKeyPair{p: p},
		&stepSecurityGroup{p: p},
		&stepBoot{p: p},
		&stepWaitSSH{p: p},
		&stepMirrors{},
		&stepUpdatePackages{},
		&stepHarden{p: p},
		&stepGate{},
		&stepCleanImage{},
		&stepStop{p: p},
		&stepSnapshot{p: p},
		&stepRetire{p: p},
	}
}

// run runs a shell script on the builder and returns a clear error with stderr's end.
func run(ctx context.Context, c hardening.Conn, what, script string) error {
	var stderr tail
	code, err := c.Run(ctx, script, io.Discard, &stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != 0 {
		return fmt.Errorf("%s: exit status %d: %s", what, code, stderr.String())
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tail keeps the last 2 KiB written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.b)) }
