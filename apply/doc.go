// Package apply executes a plan.Plan in dependency order (groups before the rules that name
// them, rule removals before group removals) through the small Cloud interface it declares,
// and reports progress through an event.Hook, whose Halt stops it between units of work; it
// never prints.
package apply
