package hardening

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseOSRelease(t *testing.T) {
	for _, tc := range []struct{ text, key string }{
		{"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n", "debian12"},
		{"NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n", "rhel9"},
		{"ID=ubuntu\nVERSION_ID=\"22.04\"\n", "ubuntu2204"},
		{"# comment\nID='centos'\nVERSION_ID='9'\n", "centos9"},
		{"ID=debian\nVERSION_CODENAME=trixie\n", ""},
	} {
		o, err := ParseOSRelease(strings.NewReader(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if o.Key() != tc.key {
			t.Errorf("%q: key %q, want %q", tc.text, o.Key(), tc.key)
		}
	}
	if _, err := ParseOSRelease(strings.NewReader("NAME=x\n")); err == nil {
		t.Error("no ID: no error")
	}
}

func TestContent(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"ssg-debian12-ds.xml": "deb", "ssg-rhel9-ds.xml": "rhel", "notes.txt": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := Content{Dir: dir}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].Name != "ssg-debian12-ds.xml" || ds[1].Name != "ssg-rhel9-ds.xml" {
		t.Fatalf("loaded %+v", ds)
	}
	sum := sha256.Sum256([]byte("rhel"))
	d, err := ds.ForOS(OSRelease{ID: "rhel", VersionID: "9.4"})
	if err != nil || d.SHA256 != hex.EncodeToString(sum[:]) || string(d.Data) != "rhel" || !filepath.IsAbs(d.Path) {
		t.Errorf("rhel 9.4 -> %+v, %v", d, err)
	}
	_, err = ds.ForOS(OSRelease{ID: "debian", VersionID: "11"})
	if err == nil || !strings.Contains(err.Error(), "ssg-debian11-ds.xml") {
		t.Errorf("missing content error %v does not name the file", err)
	}
	if _, err := (Content{Dir: filepath.Join(dir, "nope")}).Load(); err == nil {
		t.Error("missing directory: no error")
	}
}
