// Package rollout moves a fleet onto a new image in batches with Nova's rebuild (same server
// id, ports and addresses; root disk wiped), never more than the budget (max_unavailable) out
// of service, each server gated on health and compliance before it counts as available
// again, with a canary and bakes, pause/resume/abort/rollback from outside, and resume after
// a crash from per-server marks in Nova metadata (no state file).
//
// The guarantee: a server counts as unavailable from the decision to rebuild it until its
// gate passes; a server that is not ACTIVE, that failed its probe, or whose marks say it is
// being rebuilt, rolled back or failed counts too. Before each rebuild call the fleet is read
// again in one list call and the rebuild starts only if the count stays within the budget;
// when the count is unknown (the list failed) nothing starts. Rollbacks go through the same
// admission, and a rerun after kill -9 counts the servers its predecessor left in flight from
// their marks.
//
// The package declares what it needs (Cloud, Gate, Control) and imports neither gophercloud
// nor x/crypto: provider/openstack satisfies Cloud, the SSH layer and the scanner Gate, the
// cloud lock's Inbox Control. Progress leaves through an event.Hook.
package rollout
