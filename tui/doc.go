// Package tui owns the Bubble Tea models driven by rollout events; it never calls the cloud.
// (Not built yet.)
package tui
