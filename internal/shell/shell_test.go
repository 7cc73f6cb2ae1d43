package shell

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "''"},
		{"/tmp/hardenctl.AbC123/arf.xml", "/tmp/hardenctl.AbC123/arf.xml"},
		{"it's", `'it'\''s'`},
		{"a b", "'a b'"},
		{"$HOME", "'$HOME'"},
		{"x;rm -rf /", "'x;rm -rf /'"},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestQuoteRoundTrip: sh reads back every quoted word as the very bytes given.
func TestQuoteRoundTrip(t *testing.T) {
	words := []string{"", "plain", "it's", `"dq"`, "$(id)", "`id`", "a\nb", "\\", "*", "~root", "-n", "'", "''"}
	for _, w := range words {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(w)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != w {
			t.Errorf("sh read %q back as %q (quoted: %s)", w, out, Quote(w))
		}
	}
}
