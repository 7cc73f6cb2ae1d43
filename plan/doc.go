// Package plan computes what must change: it turns a config.Config into the desired security
// groups and rules, diffs them against what an Observer reports the cloud has, and returns a
// Plan (plain data: actions with reasons). It renders plans as text and JSON and reads and
// writes plan files. It never calls the cloud itself and imports neither gophercloud nor
// x/crypto.
package plan
