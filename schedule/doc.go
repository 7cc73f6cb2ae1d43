// Package schedule owns the scheduled rebuild: when a schedule block's runs are due (Slots,
// Decide: computed in Go from the anchor, since cron cannot say "every two weeks"), the record
// each run leaves (Record, stable JSON) and where the records live (the RecordStore it
// declares: the provider keeps them in the cloud's object store, FileStore in a directory for
// clouds without one). Package schedule/units writes the systemd units and the Kubernetes
// CronJob that call `hardenctl schedule run NAME --if-due`.
//
// Run is `schedule run NAME`: under the configuration's cloud lock it builds the images,
// rolls the fleets onto them and scans the scan fleets through the small interfaces it
// declares (Builder, Roller, Scanner, ImageCatalog, Locker), which the CLI wires over
// images.Pipeline, rollout.Run with the health gate and the scanner; it keeps the record,
// resumes a run whose process died, and flags compliance drift.
// The package imports neither gophercloud nor x/crypto (cmd/hardenctl/deps_test.go).
package schedule
