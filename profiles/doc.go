// Package profiles owns the built-in hardening profiles and their embedded content
// (tailoring, audit rules).
package profiles
