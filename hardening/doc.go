// Package hardening owns SSH sessions (known_hosts, bastion jump), SFTP, oscap runs, results
// parsing, scoring and reports.
package hardening
