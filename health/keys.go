package health

import (
	"regexp"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/remote"
)

// The boot markers a console shows at each boot, with the time of that boot:
//   - the test bed's Nova driver (scripts/devcloud/servers/server.sh):
//     "[hardenctl-virt] booting NAME (2026-12-02T00:20:05Z)", then, at first boot of a
//     fresh disk, the key blocks;
//   - cloud-init: "Cloud-init v. 23.1 running 'modules:final' at Fri, 02 Dec 2022 10:11:12
//     +0000. Up 3.47 seconds.", whose keys-to-console blocks follow within that stage.
var (
	testbedBoot   = regexp.MustCompile(`\[hardenctl-virt\] booting \S+ \((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)`)
	cloudInitBoot = regexp.MustCompile(`Cloud-init v\. \S+ running '[^']+' at ([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4})`)
)

// DefaultSkew is how much earlier than the rebuild's decision a boot marker may say the
// system booted and still count as the rebuilt system: the console's clock (the guest's or
// the hypervisor's) and hardenctl's differ, and the test bed's marker has whole seconds.
const DefaultSkew = 10 * time.Second

// KeysSince picks the host keys a server printed on its console after since, the time the
// rebuild was decided (so that a key printed by the system before the rebuild is never used):
//
//   - The console is cut at its boot markers (cloud-init's "Cloud-init v. ... running ...
//     at DATE" lines and the test bed's "[hardenctl-virt] booting NAME (DATE)"). When it has
//     markers and since is set, only the text after the last marker is read, and only if that
//     marker's time is at or after since - skew: a console whose last boot is older is the
//     old system's, and no keys are returned yet (the gate tries again).
//   - Without markers (a console that prints neither) or with since zero (a rollout resumed
//     after a crash does not know when the rebuild was decided; a probe of a server not being
//     rebuilt), the last complete key block of the whole console is taken. The test bed's
//     driver rebuilds by destroy and spawn, which deletes the console log, so after a rebuild
//     only the new system's block is there; on a cloud that keeps the old log and prints no
//     markers, an old block can only be read before the new one is printed, and the server
//     (whose disk, and so its old key, was wiped) then fails verification against it and the
//     gate tries again.
//
// It returns no keys and no error while no block qualifies; an error for a block whose keys
// and fingerprints disagree (remote.ParseConsoleHostKeys).
func KeysSince(console string, since time.Time, skew time.Duration) ([]remote.HostKey, error) {
	if since.IsZero() {
		return remote.ParseConsoleHostKeys(console)
	}
	at, off, ok := lastBoot(console)
	if !ok {
		return remote.ParseConsoleHostKeys(console)
	}
	if at.Before(since.Add(-skew)) {
		return nil, nil
	}
	return remote.ParseConsoleHostKeys(console[off:])
}

// lastBoot finds the last boot marker: its time and the offset of the line after it.
func lastBoot(console string) (at time.Time, off int, ok bool) {
	for pos := 0; pos < len(console); {
		end := strings.IndexByte(console[pos:], '\n')
		next := pos + end + 1
		if end < 0 {
			next = len(console)
		}
		line := console[pos:next]
		if m := testbedBoot.FindStringSubmatch(line); m != nil {
			if t, err := time.Parse(time.RFC3339, m[1]); err == nil {
				at, off, ok = t, next, true
			}
		} else if m := cloudInitBoot.FindStringSubmatch(line); m != nil {
			if t, err := time.Parse(time.RFC1123Z, m[1]); err == nil {
				at, off, ok = t, next, true
			}
		}
		pos = next
	}
	return at, off, ok
}
