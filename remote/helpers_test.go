package remote

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// isHostKeyError is how the scanner tells host key failures apart (hardening.isHostKeyError):
// by the HostKeyProblem method, without importing this package.
func isHostKeyError(err error) bool {
	var hk interface{ HostKeyProblem() bool }
	return errors.As(err, &hk) && hk.HostKeyProblem()
}

func testHostsDir() string {
	if d := os.Getenv("TESTHOSTS"); d != "" {
		return d
	}
	return "/tmp/hardenctl-testhosts"
}

// readRunDir reads what hosts.sh up wrote into an instance's run directory: the targets
// (hosts.txt, "NAME ADDRESS" lines) and the bastion's address (bastion.txt).
func readRunDir(t testing.TB, run string) ([]Host, string) {
	t.Helper()
	f, err := os.Open(run + "/hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hosts []Host
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, addr, _ := strings.Cut(sc.Text(), " ")
		hosts = append(hosts, Host{Name: name, Address: addr})
	}
	b, err := os.ReadFile(run + "/bastion.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, bastion, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	return hosts, bastion
}
