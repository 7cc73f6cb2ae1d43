// Package schedule owns when jobs are due, running them, locking and run history. (Not built
// yet.)
package schedule
