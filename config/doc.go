// Package config loads hardenctl's HCL configuration: every *.hcl file of a directory (or one
// file), variables (-var, -var-file, HARDENCTL_VAR_name), locals, references between blocks and
// validation. Errors are hcl.Diagnostics with source ranges, all of them at once. The package
// holds what the configuration says, never what the cloud has, and imports neither gophercloud
// nor x/crypto.
//
// # Stages
//
// Load parses the files, then decodes in stages, each with the hcl.EvalContext the earlier
// ones made possible:
//
//  1. declare: the top-level blocks are grouped by type (rootBlocks); duplicates and bad
//     labels are reported, and the referenceable blocks become the EvalContext variables
//     zone (one object {kind = "zone", name = NAME} per zone) and bastion ({kind = "bastion"},
//     only when there is a bastion block).
//  2. variables: the value of each variable block, by precedence, lowest first: default,
//     HARDENCTL_VAR_name, each -var-file in order, each -var in order. For a variable of
//     type string, or without a type, a value from -var or the environment is the raw
//     string; for any other type it is read as an HCL expression (-var 'cidrs=["10.0.0.0/8"]').
//     A value for an undeclared variable is an error from -var and -var-file, and ignored
//     from the environment. Then the validation rules.
//  3. locals: evaluated after the locals they refer to; cycles are reported.
//  4. name, then every other block type in rootBlocks order: cloud, ssh, bastion, zone,
//     compliance, profile, mirror, registry, image, fleet, schedule. The settings blocks (ssh,
//     compliance) come first because later blocks take defaults from them (bastion.user and
//     image.ssh_user from ssh.user; profile datastreams from compliance.content_dir);
//     references between blocks need only the declare stage.
//
// # Paths and references
//
// File paths are relative to the configuration's directory, with ~ expanded from HOME in
// LoadOptions.Environ at load time; files that the configuration ships (datastream,
// tailoring, gpg_key) must exist. A profile's datastream is not a path but the file name of
// one of the content directory's *-ds.xml files, kept as that name: scans load the content
// directory and pick a datastream by its name. References to
// mirror.x, registry.x, profile.x, image.x and zone.x are kept as names (Image.Mirrors,
// ProfileRef, ImageRef); where a string is allowed instead (a built-in profile, a Glance
// image), the Ref type says which it was. Built-in profiles are not known here.
//
// Every expression's references are checked before it is evaluated (checkReferences), so
// that zone.appp is "Reference to undeclared zone" at the reference, with a suggestion.
//
// # Adding a block type
//
// Add an entry to rootBlocks with a Decode function (and a field to Config). With
// Referenceable set, TYPE.LABEL can be named in expressions and evaluates to
// {kind = TYPE, name = LABEL}; decode such a value where it is used, as peerFromObject does.
package config
