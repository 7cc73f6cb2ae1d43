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
}

// Cloud is what the image pipeline needs from the cloud; provider/openstack satisfies it.
type Cloud interface {
	FindImages(ctx context.Context, q ImageQuery) ([]Image, error)
	CreateKeyPair(ctx context.Context, name, publicKey string) error
	DeleteKeyPair(ctx context.Context, name string) error
	// CreateBuildGroup makes a temporary security group that lets SSH in from the given
	// remote group (the bastion's) or, when remoteGroupID is empty, from cidr.
	CreateBuildGroup(ctx context.Context, name, remoteGroupID, cidr string, tags []string) (string, error)
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
}
