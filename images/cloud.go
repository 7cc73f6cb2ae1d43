package images

import (
	"context"
	"time"
)

// Image is a Glance image as the pipeline sees it.
type Image struct {
	ID         string
	Name       string
	Status     string // queued, active, deactivated, ...
	Tags       []string
	Properties map[string]string
	CreatedAt  time.Time
	Owner      string // the project that owns the image
}

// ServerSpec is what the pipeline boots a builder with.
type ServerSpec struct {
	Name           string
	ImageID        string
	Flavor         string // name or id
	Network        string // name or id
	SecurityGroups []string
	KeyName        string
	Metadata       map[string]string
	Tags           []string
}

// Server is a booted server: its status and its address on the network it was booted on.
type Server struct {
	ID      string
	Name    string
	Status  string
	Address string // first fixed IPv4 address
	ImageID string
}

// ImageQuery selects images: by name, tags and properties (all must match).
type ImageQuery struct {
	Name       string
	Tags       []string
	Properties map[string]string
	// OwnProject keeps only the images that the token's project owns: what hardenctl owns is
	// its tags AND the project, so an admin token never picks (or retires) another project's
	// image of the same name. A token without a project then fails the query.
	OwnProject bool
}

// Cloud is what the image pipeline needs from the cloud; provider/openstack satisfies it.
type Cloud interface {
	FindImages(ctx context.Context, q ImageQuery) ([]Image, error)
	CreateKeyPair(ctx context.Context, name, publicKey string) error
	DeleteKeyPair(ctx context.Context, name string) error
	// FindSecurityGroup returns the id of the one group of the token's project that has this
	// name and carries all of tags; none (or several) is an error.
	FindSecurityGroup(ctx context.Context, name string, tags []string) (string, error)
	// CreateBuildGroup makes a temporary security group that lets SSH in only from the
	// members of the bastion's group, bastionGroupID (never from an address range).
	CreateBuildGroup(ctx context.Context, name, bastionGroupID string, tags []string) (string, error)
	DeleteSecurityGroup(ctx context.Context, id string) error
	CreateServer(ctx context.Context, spec ServerSpec) (string, error)
	// WaitServer polls until the server has status (and no task), or fails on ERROR.
	WaitServer(ctx context.Context, id, status string) (Server, error)
	ConsoleOutput(ctx context.Context, id string) (string, error)
	StopServer(ctx context.Context, id string) error
	// DeleteServer deletes a server and waits until it is gone.
	DeleteServer(ctx context.Context, id string) error
	// Snapshot creates an image of a server and returns its id.
	Snapshot(ctx context.Context, serverID, name string, metadata map[string]string) (string, error)
	WaitImage(ctx context.Context, id string) (Image, error)
	// SetImageProperties adds or replaces properties and replaces the tags.
	SetImageProperties(ctx context.Context, id string, props map[string]string, tags []string) error
	DeactivateImage(ctx context.Context, id string) error
	DeleteImage(ctx context.Context, id string) error
	// FindBuildLeftovers lists, in the token's project, the servers and security groups that
	// carry all of tags and the key pairs whose names start with keyPrefix.
	FindBuildLeftovers(ctx context.Context, tags []string, keyPrefix string) (Leftovers, error)
}

// Leftovers are what builds left in the cloud (ids; key pairs by name).
type Leftovers struct {
	Servers, Groups, KeyPairs []string
}
