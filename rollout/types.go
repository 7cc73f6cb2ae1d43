package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/lock"
)

// Server is one server of the fleet as the cloud lists it.
type Server struct {
	ID, Name string
	Address  string // the address the gate reaches it at (through the bastion)
	// Status is Nova's: ACTIVE, REBUILD, ERROR, SHUTOFF, ...; TaskState Nova's task state
	// ("" when none).
	Status, TaskState string
	// ImageID is the image the server runs. Nova leaves it empty for a volume-backed server:
	// the provider fills it when it knows better, else the engine goes by the marks.
	ImageID      string
	VolumeBacked bool
	Metadata     map[string]string // all of the server's metadata, the marks among it
}

// Cloud is what a rollout needs of the cloud.
type Cloud interface {
	// ListFleet lists the servers carrying all of tags, in one call.
	ListFleet(ctx context.Context, tags []string) ([]Server, error)
	// Rebuild rebuilds server id onto imageID with metadata as the server's whole metadata
	// afterwards (Nova's rebuild replaces it; the engine merges its marks into what the list
	// returned) and returns Nova's request id. The marks travel in the rebuild request itself:
	// Nova refuses metadata writes while a rebuild runs.
	Rebuild(ctx context.Context, id, imageID string, metadata map[string]string) (requestID string, err error)
	// WaitRebuild waits until the rebuild is over: the server ACTIVE on imageID, or for a
	// volume-backed server (whose image Nova does not show) the rebuild's instance action
	// finished and the server ACTIVE. requestID "" means the server's latest rebuild, if it
	// had any (a rollout resumed after a crash does not know the id). A server gone to ERROR
	// is an error.
	WaitRebuild(ctx context.Context, s Server, imageID, requestID string) error
	// SetMetadata sets the given items, keeping the others (Nova's metadata update).
	SetMetadata(ctx context.Context, id string, items map[string]string) error
	// ImageExists says whether image id exists (and is usable to rebuild onto).
	ImageExists(ctx context.Context, id string) (bool, error)
	// ProtectImage makes the image protected for holder (it cannot be deleted while any
	// holder keeps it); ReleaseImage gives holder's hold up, unprotecting the image when no
	// hold is left and the protection was hardenctl's.
	ProtectImage(ctx context.Context, id, holder string) error
	ReleaseImage(ctx context.Context, id, holder string) error
}

// Gate checks servers. The implementation (SSH layer and scanner) comes from outside; the
// engine calls its parts in order, timing each and reporting it.
type Gate interface {
	// Connect opens the gate's SSH session to a rebuilt server through the bastion, verified
	// against the host key the server printed on its console after since (the rebuild's
	// request; zero when a resumed rollout does not know it: the newest keys on the
	// console), never against one known before the rebuild.
	Connect(ctx context.Context, s Server, since time.Time) (Session, error)
	// Probe checks a server that is not being rebuilt, at each batch's start (with the health
	// block's SSH and TCP checks and the host key its console shows last): a server that
	// fails it counts as unavailable until a later probe passes. An implementation may
	// return nil at once when it does not probe.
	Probe(ctx context.Context, s Server, h config.Health) error
}

// Session is one verified SSH session of the gate to a server.
type Session interface {
	// TCP checks that port accepts connections, probed from inside the server.
	TCP(ctx context.Context, port int) error
	// Scan runs the compliance scan with the pinned content and returns its score.
	Scan(ctx context.Context) (Scan, error)
	Close() error
}

// Scan is a compliance scan's outcome.
type Scan struct {
	Score  float64
	Detail string // a short summary (profile, failed rule counts) for the report
}

// Control is where requests from outside (another terminal, the TUI) arrive: the cloud
// lock's inbox (*lock.Inbox) satisfies it. The engine reads it between units of work and
// removes each request once obeyed.
type Control interface {
	Requests(ctx context.Context) ([]lock.Request, error)
	Obeyed(ctx context.Context, r lock.Request) error
}

// The requests a rollout obeys (lock.Request.Kind).
const (
	Pause    = "pause"    // after the servers in flight, wait for resume, abort or rollback
	Resume   = "resume"   // go on after a pause (failed servers are gated again first)
	Abort    = "abort"    // after the servers in flight, stop, leaving the servers as they are
	Rollback = "rollback" // after the servers in flight, rebuild the moved servers back
)

// Spec is one rollout: a fleet onto an image, under its upgrade policy.
type Spec struct {
	Config, Fleet string
	Tags          []string // the fleet's servers carry all of them (plan.FleetTags)
	Target        string   // the image id to move onto
	Upgrade       config.Upgrade
}

func (s Spec) holder() string { return s.Config + "." + s.Fleet }

// Deps are the engine's collaborators.
type Deps struct {
	Cloud   Cloud
	Gate    Gate
	Control Control    // nil: no control from outside
	Hook    event.Hook // nil: no events
}

// Options tune the engine (the zero value is fine).
type Options struct {
	Now func() time.Time
	// Poll is how often a blocked rollout reads the fleet and the control requests again
	// (default 5 s).
	Poll time.Duration
	// ProbeConcurrency bounds the probes of the servers outside the rollout's hands
	// (default 8).
	ProbeConcurrency int
	// MarkRetries is how often a mark written after a gate is retried (default 3).
	MarkRetries int
	// NewID makes a rollout id (default: time and randomness).
	NewID func() string
}

// Errors a rollout ends with (wrapped; test with errors.Is).
var (
	ErrAborted            = errors.New("rollout aborted")
	ErrRolledBack         = errors.New("rollout failed and was rolled back")
	ErrRollbackFailed     = errors.New("rollback did not complete")
	ErrDeadline           = errors.New("rollout deadline passed")
	ErrFailed             = errors.New("rollout failed")
	ErrRollbackImpossible = errors.New("rollback is impossible")
	// ErrImageNotOwned is what Cloud.ProtectImage returns for an image of another project (a
	// shared base image): hardenctl changes nothing it does not own, so it stays unprotected.
	ErrImageNotOwned = errors.New("the image is not this project's")
	ErrUnknownFleet  = errors.New("the fleet could not be read: nothing starts")
	ErrBlocked       = errors.New("the budget is taken by servers outside the rollout")
)

// FailureError says which servers failed their gate.
type FailureError struct {
	Servers []string // names
	Limit   int      // max_failures
}

func (e *FailureError) Error() string {
	return fmt.Sprintf("%d server(s) failed their gate (%v), more than max_failures %d", len(e.Servers), e.Servers, e.Limit)
}
