// Package health is the rollouts' gate (rollout.Gate and rollout.Session): SSH through the
// bastion to a rebuilt server, verified against the host key the server printed on its
// console after its rebuild began (never trusted on first use, never a key known before the
// rebuild), the TCP ports probed from inside the server over that session (no firewall hole
// needed), and the compliance scan with the pinned datastream through hardening.Scanner on
// that same session.
//
// It imports remote (the SSH transport), hardening (the scanner) and profiles; package
// rollout does not import it: cmd/hardenctl wires it in. The cloud (a server's console) and
// the SSH dialer come in through the small interfaces declared here, so the unit tests use
// fakes.
package health
