package plan

import (
	"slices"
	"strings"
	"testing"
)

// withRecord gives every observed group the rules record of rules[group] (as the last apply
// wrote it).
func withRecord(obs *Observed, rules map[string][]Rule) *Observed {
	for i := range obs.Owned {
		if rs, ok := rules[obs.Owned[i].Name]; ok {
			obs.Owned[i].Tags = append(slices.Clone(obs.Owned[i].Tags), RulesTag(rs))
		}
	}
	return obs
}

// dropRule removes the observed rule of group whose String is rule (deleted outside hardenctl).
func dropRule(t *testing.T, obs *Observed, group, rule string, nameByID map[string]string) {
	t.Helper()
	for i := range obs.Owned {
		g := &obs.Owned[i]
		if g.Name != group {
			continue
		}
		for j, r := range g.Rules {
			if resolve(r, nameByID).String() == rule {
				g.Rules = slices.Delete(g.Rules, j, j+1)
				return
			}
		}
	}
	t.Fatalf("no rule %q in %s", rule, group)
}

func ruleCreates(p *Plan) map[string]Change {
	out := map[string]Change{}
	for _, c := range p.Changes {
		if c.Kind == KindRule && c.Action == Create {
			out[c.Rule.String()] = c
		}
	}
	return out
}

// A managed rule missing from a group that was applied with it is drift (deleted outside
// hardenctl); a rule the configuration gained since is new in config; both at once are told
// apart; without a record hardenctl cannot tell and says new in config.
func TestMissingRuleDriftOrNew(t *testing.T) {
	desired := Desired(small())
	byName := map[string][]Rule{}
	nameByID := map[string]string{}
	for _, g := range desired {
		byName[g.Name] = g.Rules
		nameByID["id-"+g.Name] = g.Name
	}
	web := byName["t-web"]
	if len(web) < 3 {
		t.Fatalf("t-web has %d rules; the test needs 3", len(web))
	}
	deleted, added := web[0], web[1]
	without := func(rs []Rule, r Rule) []Rule {
		return slices.DeleteFunc(slices.Clone(rs), func(x Rule) bool { return x.Key() == r.Key() })
	}

	for _, tc := range []struct {
		name     string
		record   []Rule // the rule set last applied to t-web; nil: no record
		gone     []Rule // rules deleted outside hardenctl since
		notThere []Rule // rules the cloud lacks because the configuration gained them
		drift    []Rule // want planned as drift
	}{
		{"deleted out of band", web, []Rule{deleted}, nil, []Rule{deleted}},
		{"new in config", without(web, added), nil, []Rule{added}, nil},
		{"both", without(web, added), []Rule{deleted}, []Rule{added}, []Rule{deleted}},
		{"no record", nil, []Rule{deleted}, nil, nil},
	} {
		obs := observe(desired)
		if tc.record != nil {
			withRecord(obs, map[string][]Rule{"t-web": tc.record})
		}
		for _, r := range append(slices.Clone(tc.gone), tc.notThere...) {
			dropRule(t, obs, "t-web", r.String(), nameByID)
		}
		p := Diff(desired, obs)
		creates := ruleCreates(p)
		if len(creates) != len(tc.gone)+len(tc.notThere) {
			t.Errorf("%s: %d rule creates, want %d", tc.name, len(creates), len(tc.gone)+len(tc.notThere))
		}
		for _, r := range append(slices.Clone(tc.gone), tc.notThere...) {
			c, ok := creates[r.String()]
			wantDrift := slices.ContainsFunc(tc.drift, func(x Rule) bool { return x.Key() == r.Key() })
			switch {
			case !ok:
				t.Errorf("%s: %s not planned", tc.name, r)
			case wantDrift && (c.Reason != ReasonDrift || c.Detail != "missing: deleted outside hardenctl"):
				t.Errorf("%s: %s planned as %s (%q), want drift, missing: deleted outside hardenctl", tc.name, r, c.Reason, c.Detail)
			case !wantDrift && c.Reason != ReasonNew:
				t.Errorf("%s: %s planned as %s, want new-in-config", tc.name, r, c.Reason)
			}
		}
		var text strings.Builder
		WriteText(&text, p, false)
		if said := strings.Contains(text.String(), "# drift: missing: deleted outside hardenctl"); said != (len(tc.drift) > 0) {
			t.Errorf("%s: the plan text says drift %t:\n%s", tc.name, said, text.String())
		}
		// apply records the configuration's rule set on the group once its rules are in
		for _, c := range p.Changes {
			if c.Kind == KindGroup && c.Group == "t-web" && c.RulesTag != RulesTag(web) && (tc.record == nil || RulesTag(tc.record) != RulesTag(web)) {
				t.Errorf("%s: group change records %q, want %q", tc.name, c.RulesTag, RulesTag(web))
			}
		}
	}
}

// A group recorded with exactly its rules needs no new record; a new group gets one.
func TestRulesRecordOnlyWhenStale(t *testing.T) {
	desired := Desired(small())
	obs := observe(desired)
	rec := map[string][]Rule{}
	for _, g := range desired {
		rec[g.Name] = g.Rules
	}
	p := Diff(desired, withRecord(obs, rec))
	for _, c := range p.Changes {
		if c.RulesTag != "" {
			t.Errorf("%s %s records %q again", c.Action, c.Group, c.RulesTag)
		}
	}
	p = Diff(desired, &Observed{})
	for _, c := range p.Changes {
		if c.Kind == KindGroup && c.RulesTag == "" {
			t.Errorf("new group %s gets no rules record", c.Group)
		}
	}
}
