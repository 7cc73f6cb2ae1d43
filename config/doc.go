// Package config loads hardenctl's HCL configuration: every *.hcl file of a directory (or one
// file), variables (-var, -var-file, HARDENCTL_VAR_name), locals, references between blocks and
// validation. Errors are hcl.Diagnostics with source ranges, all of them at once. The package
// holds what the configuration says, never what the cloud has, and imports neither gophercloud
// nor x/crypto.
package config
