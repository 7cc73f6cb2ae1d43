package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// ANSI colours, used only when the caller says the output is a terminal. Meaning is never
// carried by colour alone: every line has its symbol.
const (
	colGreen  = "\x1b[32m"
	colYellow = "\x1b[33m"
	colRed    = "\x1b[31m"
	colBold   = "\x1b[1m"
	colReset  = "\x1b[0m"
)

// WriteText renders the plan for people, in the manner of Terraform: one section per group,
// each change with its symbol and reason, then the summary line.
func WriteText(w io.Writer, p *Plan, color bool) error {
	pw := &printer{w: w, color: color}
	for _, c := range p.Conflicts {
		pw.line(colYellow, "! conflict: %s %q (id %s, wanted for %s)", c.Kind, c.Name, c.ID, c.Address)
		pw.line("", "    %s", c.Detail)
		pw.line("", "")
	}
	for _, w := range p.Warnings {
		pw.line(colYellow, "! warning: %s", w)
		pw.line("", "")
	}
	if !p.HasChanges() {
		pw.line(colGreen, "No changes. The cloud matches the configuration.")
		return pw.err
	}
	if p.Destroy {
		pw.line("", "hardenctl will destroy every resource that configuration %q owns:", p.Config)
	} else {
		pw.line("", "hardenctl will perform the following actions:")
	}
	pw.line("", "")
	var groupChanges, serverChanges []Change
	for _, c := range p.Changes {
		if c.Kind == KindServer {
			serverChanges = append(serverChanges, c)
		} else {
			groupChanges = append(groupChanges, c)
		}
	}
	for _, sec := range sections(groupChanges) {
		g, rules := sec.group, sec.rules
		if g.Action == NoOp && len(rules) == 0 {
			continue
		}
		switch g.Action {
		case Create:
			pw.line(colBold, "  # %s (%s) will be created: %s", g.Group, g.Address, reasonText(g.Reason))
			pw.line(colGreen, "  + %s %q {", KindGroup, g.Group)
			pw.line(colGreen, "      + description = %q", g.Description)
			pw.line(colGreen, "      + tags        = [ownership tags]")
			pw.line("", "        # Neutron's default allow-all egress rules will be removed")
		case Update:
			pw.line(colBold, "  # %s (%s) will be updated in place: %s", g.Group, g.Address, reasonText(g.Reason))
			pw.line(colYellow, "  ~ %s %q {", KindGroup, g.Group)
			pw.line(colYellow, "      ~ description = %q -> %q", g.OldDescription, g.Description)
		case Delete:
			pw.line(colBold, "  # %s (id %s) will be destroyed with its %d rule%s: %s", g.Group, g.ID, g.Rules, plural(g.Rules), reasonText(g.Reason))
			pw.line(colRed, "  - %s %q {", KindGroup, g.Group)
		default:
			n := len(rules)
			pw.line(colBold, "  # %s (%s): %d rule change%s", g.Group, g.Address, n, plural(n))
			pw.line("", "    %s %q {", KindGroup, g.Group)
		}
		for _, r := range rules {
			col := colGreen
			if r.Action == Delete {
				col = colRed
			}
			note := ""
			if g.Action != Create {
				note = "   # " + reasonText(r.Reason)
				if r.Detail != "" {
					note = "   # " + string(r.Reason) + ": " + r.Detail
				}
				if r.Action == Delete && r.ID != "" {
					note += " (id " + r.ID + ")"
				}
			}
			pw.line(col, "      %s %s%s", r.Action.Symbol(), r.Rule, note)
		}
		pw.line("", "    }")
		pw.line("", "")
	}
	for _, c := range serverChanges {
		switch c.Action {
		case Create:
			pw.line(colBold, "  # server %s (%s) will be created: %s", c.ServerName, c.Address, reasonText(c.Reason))
			pw.line(colGreen, "  + server %q { image = %q, flavor = %q, security_group = %q }", c.ServerName, c.Server.Image, c.Server.Flavor, c.Server.Group)
		case Delete:
			pw.line(colBold, "  # server %s (%s, id %s) will be DELETED: %s", c.ServerName, c.Address, c.ID, c.Detail)
			pw.line(colRed, "  - server %q", c.ServerName)
		case Rebuild:
			pw.line(colBold, "  # server %s (%s, id %s) will be REBUILT onto a new image", c.ServerName, c.Address, c.ID)
			pw.line(colYellow, "  -/+ server %q { %s }", c.ServerName, c.Detail)
		}
		pw.line("", "")
	}
	add, change, destroy := p.Summary()
	pw.line(colBold, "Plan: %d to add, %d to change, %d to destroy.", add, change, destroy)
	return pw.err
}

// WriteJSON renders the plan for machines; the field names are stable.
func WriteJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteFile saves the plan for a later `apply PLANFILE`. It holds no secrets.
func WriteFile(path string, p *Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write plan file: %w", err)
	}
	return nil
}

// ReadFile loads a plan saved by WriteFile.
func ReadFile(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan file: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("read plan file %s: not a hardenctl plan: %w", path, err)
	}
	if err := checkFormat(p.FormatVersion); err != nil {
		return nil, fmt.Errorf("read plan file %s: %w", path, err)
	}
	return &p, nil
}

// checkFormat refuses a plan of another format version, saying what to do.
func checkFormat(v int) error {
	switch {
	case v == FormatVersion:
		return nil
	case v < FormatVersion:
		return fmt.Errorf("the plan is of format version %d, written by an older hardenctl; this one reads version %d only: make the plan again (hardenctl plan -out FILE)", v, FormatVersion)
	}
	return fmt.Errorf("the plan is of format version %d, written by a newer hardenctl; this one reads version %d only", v, FormatVersion)
}

type section struct {
	group Change
	rules []Change
}

// sections groups the changes by security group, in plan order.
func sections(changes []Change) []section {
	var out []section
	idx := map[string]int{}
	for _, c := range changes {
		i, ok := idx[c.Group]
		if !ok {
			i = len(out)
			idx[c.Group] = i
			out = append(out, section{group: Change{Action: NoOp, Group: c.Group, Address: c.Address, GroupID: c.GroupID}})
		}
		if c.Kind == KindGroup {
			out[i].group = c
		} else {
			out[i].rules = append(out[i].rules, c)
		}
	}
	return out
}

func reasonText(r Reason) string {
	switch r {
	case ReasonNew:
		return "new in config"
	case ReasonDrift:
		return "drift: changed or added outside hardenctl"
	case ReasonRemoved:
		return "removed from config"
	case ReasonDestroy:
		return "destroy"
	case ReasonDup:
		return "duplicate of another owned group of this name"
	case ReasonOrphan:
		return "orphan: left untagged by an interrupted create"
	}
	return string(r)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type printer struct {
	w     io.Writer
	color bool
	err   error
}

func (p *printer) line(col, format string, args ...any) {
	if p.err != nil {
		return
	}
	s := fmt.Sprintf(format, args...)
	if p.color && col != "" && strings.TrimSpace(s) != "" {
		s = col + s + colReset
	}
	_, p.err = fmt.Fprintln(p.w, s)
}
