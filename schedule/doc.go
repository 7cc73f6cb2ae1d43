// Package schedule owns the scheduled rebuild: when a schedule block's runs are due (Slots,
// Decide: computed in Go from the anchor, since cron cannot say "every two weeks"), the record
// each run leaves (Record, stable JSON) and where the records live (the RecordStore it
// declares: the provider keeps them in the cloud's object store, FileStore in a directory for
// clouds without one). Package schedule/units writes the systemd units and the Kubernetes
// CronJob that call `hardenctl schedule run NAME --if-due`.
//
// Running a schedule (build, roll out, scan) needs the rollout engine and is not built yet.
// The package imports neither gophercloud nor x/crypto (cmd/hardenctl/deps_test.go).
package schedule
