package remote

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestNewKeyPair(t *testing.T) {
	priv, pub, err := NewKeyPair("hardenctl build 1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatalf("the private key does not parse: %v", err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatalf("the public key %q does not parse: %v", pub, err)
	}
	if !bytes.Equal(k.Marshal(), s.PublicKey().Marshal()) || k.Type() != ssh.KeyAlgoED25519 {
		t.Errorf("public key %s is not the private key's", pub)
	}
}

func TestWriteKnownHosts(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "operator")
	out := filepath.Join(dir, "build")
	line := "10.252.0.40 ssh-ed25519 " + consoleKey + "\n"
	if err := WriteKnownHosts(out, base, line); err != nil { // no operator file yet
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != line {
		t.Errorf("without a base: %q", b)
	}
	os.WriteFile(base, []byte("bastion ssh-ed25519 AAAA"), 0o600) // no final newline
	if err := WriteKnownHosts(out, base, line); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if string(b) != "bastion ssh-ed25519 AAAA\n"+line {
		t.Errorf("merged: %q", b)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}
