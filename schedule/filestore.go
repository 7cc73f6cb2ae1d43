package schedule

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileStore keeps run records as files, DIR/CONFIG/SCHEDULE/ID.json: for clouds whose
// catalog has no object store (the records then live where the report directory is, and
// vanish with it: say so).
type FileStore struct {
	Dir    string // the report directory
	Config string // the configuration's name
}

var _ RecordStore = (*FileStore)(nil)

func (s *FileStore) dir(schedule string) string { return filepath.Join(s.Dir, s.Config, schedule) }

// Where is the directory of the configuration's records.
func (s *FileStore) Where() string { return "directory " + filepath.Join(s.Dir, s.Config) }

// Put writes the record through a temporary file and a rename: a reader never sees half.
func (s *FileStore) Put(_ context.Context, r Record) error {
	b, err := EncodeRecord(r)
	if err != nil {
		return err
	}
	dir := s.dir(r.Schedule)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+r.ID+"-*")
	if err != nil {
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, r.ID+".json")); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	return nil
}

func (s *FileStore) ids(schedule string) ([]string, error) {
	entries, err := os.ReadDir(s.dir(schedule))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && e.Type().IsRegular() && ValidID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// List reads every record of the schedule, newest first.
func (s *FileStore) List(_ context.Context, schedule string) ([]Record, error) {
	ids, err := s.ids(schedule)
	if err != nil {
		return nil, fmt.Errorf("list records of schedule %s: %w", schedule, err)
	}
	var out []Record
	for _, id := range ids {
		b, err := os.ReadFile(filepath.Join(s.dir(schedule), id+".json"))
		if err != nil {
			return nil, fmt.Errorf("read record %s: %w", id, err)
		}
		r, err := DecodeRecord(b)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", id, err)
		}
		out = append(out, r)
	}
	SortNewestFirst(out)
	return out, nil
}

// Prune deletes all but the newest keep records.
func (s *FileStore) Prune(_ context.Context, schedule string, keep int) (int, error) {
	ids, err := s.ids(schedule)
	if err != nil {
		return 0, fmt.Errorf("prune records of schedule %s: %w", schedule, err)
	}
	n := 0
	for _, id := range PruneIDs(ids, keep) {
		if err := os.Remove(filepath.Join(s.dir(schedule), id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("prune record %s: %w", id, err)
		}
		n++
	}
	return n, nil
}
