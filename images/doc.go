// Package images owns the image pipeline: ordered steps that boot a builder, point it at the
// mirrors, harden and scan it, and publish a Glance image only when it passes the compliance
// gate; each step cleans up what it created.
package images
