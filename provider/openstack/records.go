package openstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/hardenctl/hardenctl/schedule"
)

// ErrNoObjectStore is wrapped by Records' error when the catalog has no object store: the
// caller keeps the records elsewhere (schedule.FileStore) and says so.
var ErrNoObjectStore = errors.New("the cloud's catalog has no object store (Swift)")

// maxRecordSize bounds a record read back: a record is a few kilobytes.
const maxRecordSize = 4 << 20

// SwiftRecords keeps a configuration's run records in the object store: one JSON object per
// run, CONFIG/SCHEDULE/ID.json, in a container created on the first Put.
type SwiftRecords struct {
	client    *gophercloud.ServiceClient
	container string
	config    string
}

var _ schedule.RecordStore = (*SwiftRecords)(nil)

// Records returns the record store of configuration config in container, or an error
// wrapping ErrNoObjectStore.
func (c *Client) Records(container, config string) (*SwiftRecords, error) {
	if c.object == nil {
		return nil, fmt.Errorf("keep run records in container %q: %w", container, ErrNoObjectStore)
	}
	return &SwiftRecords{client: c.object, container: container, config: config}, nil
}

// Who is the token's Keystone user and project, for the records.
func (c *Client) Who() schedule.Who { return c.who }

// Where names the container and the object store's endpoint.
func (s *SwiftRecords) Where() string {
	return fmt.Sprintf("object store container %q at %s (objects %s/)", s.container, strings.TrimSuffix(s.client.Endpoint, "/"), s.config)
}

func (s *SwiftRecords) prefix(sched string) string { return s.config + "/" + sched + "/" }

// Put creates or replaces the record's object, and the container when it is missing.
func (s *SwiftRecords) Put(ctx context.Context, r schedule.Record) error {
	b, err := schedule.EncodeRecord(r)
	if err != nil {
		return err
	}
	name := s.prefix(r.Schedule) + r.ID + ".json"
	put := func() error {
		_, err := objects.Create(ctx, s.client, s.container, name, objects.CreateOpts{
			Content: bytes.NewReader(b), ContentType: "application/json",
		}).Extract()
		return err
	}
	err = put()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		// the container is missing: create it (a PUT of an existing one changes nothing)
		if _, cerr := containers.Create(ctx, s.client, s.container, containers.CreateOpts{}).Extract(); cerr != nil {
			return fmt.Errorf("create container %q for the run records: %w", s.container, cerr)
		}
		err = put()
	}
	if err != nil {
		return fmt.Errorf("put record %s in container %q: %w", r.ID, s.container, err)
	}
	return nil
}

// names lists the schedule's record objects; none when the container does not exist.
func (s *SwiftRecords) names(ctx context.Context, sched string) ([]string, error) {
	var ids []string
	prefix := s.prefix(sched)
	err := objects.List(s.client, s.container, objects.ListOpts{Prefix: prefix}).EachPage(ctx,
		func(_ context.Context, page pagination.Page) (bool, error) {
			names, err := objects.ExtractNames(page)
			if err != nil {
				return false, err
			}
			for _, n := range names {
				id, ok := strings.CutSuffix(strings.TrimPrefix(n, prefix), ".json")
				if ok && schedule.ValidID(id) {
					ids = append(ids, id)
				}
			}
			return true, nil
		})
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list records of schedule %s in container %q: %w", sched, s.container, err)
	}
	return ids, nil
}

// List reads every record of the schedule, newest first.
func (s *SwiftRecords) List(ctx context.Context, sched string) ([]schedule.Record, error) {
	ids, err := s.names(ctx, sched)
	if err != nil {
		return nil, err
	}
	out := make([]schedule.Record, 0, len(ids))
	for _, id := range ids {
		r, err := s.get(ctx, sched, id)
		if errors.Is(err, errGone) {
			continue // pruned by another scheduler since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	schedule.SortNewestFirst(out)
	return out, nil
}

var errGone = errors.New("record gone")

func (s *SwiftRecords) get(ctx context.Context, sched, id string) (schedule.Record, error) {
	res := objects.Download(ctx, s.client, s.container, s.prefix(sched)+id+".json", nil)
	if gophercloud.ResponseCodeIs(res.Err, http.StatusNotFound) {
		return schedule.Record{}, errGone
	}
	if res.Err != nil {
		return schedule.Record{}, fmt.Errorf("read record %s: %w", id, res.Err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxRecordSize+1))
	if err != nil {
		return schedule.Record{}, fmt.Errorf("read record %s: %w", id, err)
	}
	if len(b) > maxRecordSize {
		return schedule.Record{}, fmt.Errorf("read record %s: larger than %d bytes", id, maxRecordSize)
	}
	r, err := schedule.DecodeRecord(b)
	if err != nil {
		return schedule.Record{}, fmt.Errorf("record %s in container %q: %w", id, s.container, err)
	}
	return r, nil
}

// Prune deletes all but the newest keep records of the schedule.
func (s *SwiftRecords) Prune(ctx context.Context, sched string, keep int) (int, error) {
	ids, err := s.names(ctx, sched)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range schedule.PruneIDs(ids, keep) {
		_, err := objects.Delete(ctx, s.client, s.container, s.prefix(sched)+id+".json", nil).Extract()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return n, fmt.Errorf("prune record %s from container %q: %w", id, s.container, err)
		}
		n++
	}
	return n, nil
}

// DeleteRecordsContainer deletes an empty records container (a retired schedule, tests); a
// container that still holds records is refused by the object store (409).
func (c *Client) DeleteRecordsContainer(ctx context.Context, container string) error {
	if c.object == nil {
		return fmt.Errorf("delete container %q: %w", container, ErrNoObjectStore)
	}
	_, err := containers.Delete(ctx, c.object, container).Extract()
	if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return fmt.Errorf("delete container %q: %w", container, err)
	}
	return nil
}
