package schedule_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenctl/hardenctl/schedule"
	"github.com/hardenctl/hardenctl/schedule/scheduletest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The record's JSON form is stable: golden, and read back as it was.
func TestRecordJSON(t *testing.T) {
	r := scheduletest.SampleRecord("rebuild", time.Date(2026, 1, 4, 1, 2, 12, 0, time.FixedZone("CET", 3600)), 1)
	b, err := schedule.EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/record.golden"
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./schedule -run TestRecordJSON -update)", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", golden, diff)
	}
	back, err := schedule.DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

func TestDecodeRecordRefuses(t *testing.T) {
	good, err := schedule.EncodeRecord(scheduletest.SampleRecord("rebuild", time.Date(2026, 1, 4, 1, 2, 12, 0, time.UTC), 1))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"another format version": {bytes.Replace(good, []byte(`"format_version": 1`), []byte(`"format_version": 2`), 1), "format_version 2, this hardenctl reads 1"},
		"an unknown field":       {bytes.Replace(good, []byte(`"host":`), []byte(`"hots": "x", "host":`), 1), `unknown field "hots"`},
		"a bad id":               {bytes.Replace(good, []byte(`"id": "20260104T010212Z-00000001"`), []byte(`"id": "../../etc"`), 1), "is not of the form"},
		"not JSON":               {[]byte("{"), "decode record"},
	} {
		_, err := schedule.DecodeRecord(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
		if name == "another format version" && !errors.Is(err, schedule.ErrRecordFormat) {
			t.Errorf("%s: %v does not wrap ErrRecordFormat", name, err)
		}
	}
	if _, err := schedule.EncodeRecord(schedule.Record{ID: "x/y"}); err == nil {
		t.Errorf("EncodeRecord with id x/y: no error")
	}
}

func TestNewID(t *testing.T) {
	at := time.Date(2026, 1, 4, 2, 3, 4, 0, time.FixedZone("CET", 3600))
	a, b := schedule.NewID(at), schedule.NewID(at)
	if !strings.HasPrefix(a, "20260104T010304Z-") || !schedule.ValidID(a) || a == b {
		t.Errorf("NewID = %q, %q", a, b)
	}
}

func TestFileStore(t *testing.T) {
	s := &schedule.FileStore{Dir: t.TempDir(), Config: "sample"}
	scheduletest.TestStore(t, s, "rebuild")
	if !strings.Contains(s.Where(), "sample") {
		t.Errorf("Where = %q", s.Where())
	}
}

func TestPruneIDs(t *testing.T) {
	got := schedule.PruneIDs([]string{"b", "d", "a", "c"}, 2)
	if diff := cmp.Diff([]string{"b", "a"}, got); diff != "" {
		t.Errorf("PruneIDs (-want +got):\n%s", diff)
	}
	if got := schedule.PruneIDs([]string{"a"}, 5); got != nil {
		t.Errorf("PruneIDs under keep = %v", got)
	}
}
