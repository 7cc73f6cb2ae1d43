package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the zone database in the binary: hosts and container images without /usr/share/zoneinfo know the zones too
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Schedule periods (`every`).
const (
	Every1w      = "1w"
	Every2w      = "2w"
	Every4w      = "4w"
	EveryMonthly = "monthly"
)

// Defaults of a schedule block.
const (
	DefaultKeepHistory      = 50
	DefaultHistoryContainer = "hardenctl-history"
	maxKeepHistory          = 10000
)

// Schedule is a scheduled rebuild: at each slot, build Images, roll Fleets onto them and
// scan the Scan fleets. The schedule package computes the slots; this is what the block
// says.
type Schedule struct {
	Name  string
	Every string // Every1w, Every2w, Every4w or EveryMonthly
	// The slot's time of day in Zone (`at`): "UTC" or an IANA zone name that
	// time.LoadLocation knows, never the host's Local: a schedule means the same instants on
	// every host.
	Hour, Minute int
	Zone         string
	// Weekday is the day of a weekly slot (`at = "Sun 02:00 UTC"`). A monthly slot's day is
	// MonthWeek's Weekday ("first Sunday": 1, "last Friday": -1) or, when MonthWeek is 0,
	// MonthDay (1-31: the month's last day in a month that has fewer days).
	Weekday   time.Weekday
	MonthWeek int
	MonthDay  int
	// Start is the first day a slot may fall on, a date in Zone; zero: none, and a weekly
	// slot falls in the weeks since the epoch (counted from Monday 1969-12-29) that the period
	// divides.
	Start Date

	Images      []string // image blocks built at each run
	Fleets      []string // fleet blocks rolled onto the images just built
	Scan        []string // fleet blocks only scanned
	KeepHistory int      // run records kept; default DefaultKeepHistory
	// HistoryContainer is the object store container holding the run records; default
	// DefaultHistoryContainer.
	HistoryContainer string
	DeclRange        hcl.Range
}

// Date is a day of the calendar, without a time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// IsZero says whether d is the zero Date (not set).
func (d Date) IsZero() bool { return d == Date{} }

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Weeks is the period of a weekly schedule in weeks; 0 for a monthly one.
func (s *Schedule) Weeks() int {
	switch s.Every {
	case Every1w:
		return 1
	case Every2w:
		return 2
	case Every4w:
		return 4
	}
	return 0
}

// Schedule returns the schedule block called name, or nil.
func (c *Config) Schedule(name string) *Schedule {
	return find(c.Schedules, name, func(s *Schedule) string { return s.Name })
}

var scheduleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "every", Required: true},
		{Name: "at", Required: true},
		{Name: "on"},
		{Name: "start"},
		{Name: "images"},
		{Name: "fleets"},
		{Name: "scan"},
		{Name: "keep_history"},
		{Name: "history_container"},
	},
}

func (d *decoder) decodeSchedule(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(scheduleSchema)
	s := &Schedule{Name: b.Labels[0], KeepHistory: DefaultKeepHistory, HistoryContainer: DefaultHistoryContainer,
		Zone: "UTC", DeclRange: b.DefRange}
	d.cfg.Schedules = append(d.cfg.Schedules, s)
	if attr, ok := content.Attributes["every"]; ok {
		e, _, eDiags := d.evalEnum(attr.Expr, "every", Every1w, Every2w, Every4w, EveryMonthly)
		diags = append(diags, eDiags...)
		s.Every = e
	}
	atSet := false
	if attr, ok := content.Attributes["at"]; ok {
		set, aDiags := d.decodeScheduleAt(attr, s)
		diags = append(diags, aDiags...)
		atSet = set
	}
	on, hasOn := content.Attributes["on"]
	switch {
	case s.Every == EveryMonthly && hasOn:
		diags = append(diags, d.decodeScheduleOn(on, s)...)
	case s.Every == EveryMonthly:
		diags = append(diags, errorAt(b.DefRange, "Missing day of a monthly schedule",
			"A monthly schedule says which day of the month with on: a weekday of the month, like on = \"first Sunday\" (first to fourth, or last), or a day of the month, like on = 15."))
	case s.Every != "" && hasOn:
		diags = append(diags, errorAt(on.NameRange, "Day of the month in a weekly schedule",
			"on sets the day of a monthly schedule; a schedule every %s falls on the weekday of at, like at = \"Sun 02:00 UTC\". Remove on, or make it every = \"monthly\".", s.Every))
	}
	if atSet && s.Every != "" && s.Every != EveryMonthly && s.Weekday < 0 {
		attr := content.Attributes["at"]
		diags = append(diags, errorAt(attr.Expr.Range(), "Missing weekday in at",
			"A schedule every %s runs on one weekday: at starts with it, like at = \"Sun 02:00 UTC\".", s.Every))
	}
	if s.Weekday < 0 {
		s.Weekday = time.Sunday // after an error only; a monthly schedule sets it from on
	}
	if attr, ok := content.Attributes["start"]; ok {
		str, set, sDiags := d.evalSetString(attr.Expr)
		diags = append(diags, sDiags...)
		if set {
			t, err := time.Parse(time.DateOnly, strings.TrimSpace(str))
			if err != nil {
				diags = append(diags, errorAt(attr.Expr.Range(), "Invalid start",
					"start is a date, YYYY-MM-DD, like \"2026-01-04\": the first day a run may fall on, and the anchor of the weeks a schedule every 2w or 4w counts; got %q.", str))
			} else {
				s.Start = Date{t.Year(), t.Month(), t.Day()}
			}
		}
	}
	var iDiags, fDiags, sDiags hcl.Diagnostics
	var fleetRanges, scanRanges []hcl.Range
	if attr, ok := content.Attributes["images"]; ok {
		s.Images, _, iDiags = d.evalRefsAt(attr.Expr, "image", "images")
		diags = append(diags, iDiags...)
	}
	if attr, ok := content.Attributes["fleets"]; ok {
		s.Fleets, fleetRanges, fDiags = d.evalRefsAt(attr.Expr, "fleet", "fleets")
		diags = append(diags, fDiags...)
	}
	if attr, ok := content.Attributes["scan"]; ok {
		s.Scan, scanRanges, sDiags = d.evalRefsAt(attr.Expr, "fleet", "scan")
		diags = append(diags, sDiags...)
	}
	if len(s.Images)+len(s.Fleets)+len(s.Scan) == 0 && !iDiags.HasErrors() && !fDiags.HasErrors() && !sDiags.HasErrors() {
		diags = append(diags, errorAt(b.DefRange, "Empty schedule",
			"A schedule builds images, rolls fleets or scans fleets: set images, fleets or scan, like images = [image.node] and fleets = [fleet.app]."))
	}
	for i, name := range s.Fleets {
		f := d.cfg.Fleet(name)
		if f == nil || f.Image.Name == "" {
			continue
		}
		if !f.Image.Managed || indexOf(s.Images, f.Image.Name) < 0 {
			img := fmt.Sprintf("the Glance image %q", f.Image.Name)
			if f.Image.Managed {
				img = "image." + f.Image.Name
			}
			diags = append(diags, errorAt(fleetRanges[i], "Fleet not rolled onto a built image",
				"fleet.%s runs %s, which this schedule does not build: a rolled fleet moves onto an image of images. Add its image to images, or move the fleet to scan.", name, img))
		}
	}
	for i, name := range s.Scan {
		if j := indexOf(s.Fleets, name); j >= 0 {
			diags = append(diags, errorAt(scanRanges[i], "Fleet both rolled and scanned",
				"fleet.%s is already in fleets at %s: a rolled fleet is scanned by its gates. List it in one of fleets and scan.", name, at(fleetRanges[j])))
		}
	}
	if attr, ok := content.Attributes["keep_history"]; ok {
		n, set, nDiags := d.evalInt(attr.Expr, 1, maxKeepHistory, "keep_history")
		diags = append(diags, nDiags...)
		if set {
			s.KeepHistory = n
		}
	}
	if attr, ok := content.Attributes["history_container"]; ok {
		c, cDiags := d.evalName(attr.Expr, "history_container")
		diags = append(diags, cDiags...)
		if c != "" {
			if len(c) > 255 || strings.Contains(c, "/") || !utf8.ValidString(c) || strings.IndexFunc(c, isControl) >= 0 {
				diags = append(diags, errorAt(attr.Expr.Range(), "Invalid history_container",
					"history_container names an object store container: at most 255 bytes, without '/' or control characters; got %q.", c))
			} else {
				s.HistoryContainer = c
			}
		}
	}
	return diags
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

var (
	atPattern = regexp.MustCompile(`^(?:([A-Za-z]+)\s+)?([0-9]{1,2}):([0-9]{2})(?:\s+(\S+))?$`)
	weekdays  = map[string]time.Weekday{
		"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
		"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	}
	ordinals = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
)

// parseWeekday reads "Sun", "sun" or "Sunday".
func parseWeekday(s string) (time.Weekday, bool) {
	l := strings.ToLower(s)
	if len(l) < 3 {
		return 0, false
	}
	wd, ok := weekdays[l[:3]]
	if !ok || (len(l) > 3 && l != strings.ToLower(wd.String())) {
		return 0, false
	}
	return wd, true
}

// decodeScheduleAt reads at = "[WEEKDAY] HH:MM ZONE" into s; s.Weekday is -1 when at names
// no weekday. It says whether at was read.
func (d *decoder) decodeScheduleAt(attr *hcl.Attribute, s *Schedule) (bool, hcl.Diagnostics) {
	s.Weekday = -1
	str, set, diags := d.evalSetString(attr.Expr)
	if !set {
		return false, diags
	}
	rng := attr.Expr.Range()
	m := atPattern.FindStringSubmatch(strings.TrimSpace(str))
	if m == nil {
		return false, append(diags, errorAt(rng, "Invalid at",
			"at is a weekday, a time of day and a time zone, like \"Sun 02:00 UTC\" or \"Sat 23:30 Europe/Berlin\" (a monthly schedule leaves out the weekday: \"02:00 UTC\"); got %q.", str))
	}
	if m[1] != "" {
		wd, ok := parseWeekday(m[1])
		if !ok {
			return false, append(diags, errorAt(rng, "Invalid weekday in at",
				"at starts with a weekday, Mon to Sun (or Monday to Sunday); got %q.", m[1]))
		}
		if s.Every == EveryMonthly {
			return false, append(diags, errorAt(rng, "Weekday in the at of a monthly schedule",
				"A monthly schedule's day is set by on, like on = \"first %s\"; at is then the time of day and zone only, like \"%s:%s %s\".", wd, m[2], m[3], m[4]))
		}
		s.Weekday = wd
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi(m[3])
	if h > 23 || mi > 59 {
		return false, append(diags, errorAt(rng, "Invalid time of day in at",
			"The time of day is HH:MM on a 24-hour clock, 00:00 to 23:59; got %s:%s.", m[2], m[3]))
	}
	s.Hour, s.Minute = h, mi
	zone := m[4]
	if zone == "" {
		return false, append(diags, errorAt(rng, "Missing time zone in at",
			"at ends with a time zone, UTC or an IANA zone like Europe/Berlin, so that the schedule means the same instants on every host: like %q.", strings.TrimSpace(str)+" UTC"))
	}
	if zone == "Local" || strings.EqualFold(zone, "local") {
		return false, append(diags, errorAt(rng, "Local time zone in at",
			"The host's own time zone would make the schedule depend on where it runs: name the zone, UTC or an IANA zone like Europe/Berlin."))
	}
	if _, err := time.LoadLocation(zone); err != nil {
		return false, append(diags, errorAt(rng, "Unknown time zone in at",
			"%q is not a time zone of the IANA database: use UTC or a name like Europe/Berlin or America/New_York.", zone))
	}
	s.Zone = zone
	return true, diags
}

// decodeScheduleOn reads a monthly schedule's on: "first Sunday" ... "fourth Sunday",
// "last Sunday", or a day of the month, 1 to 31 (a number or a string).
func (d *decoder) decodeScheduleOn(attr *hcl.Attribute, s *Schedule) hcl.Diagnostics {
	v, ok, diags := d.known(attr.Expr)
	if !ok {
		return diags
	}
	rng := attr.Expr.Range()
	bad := func() hcl.Diagnostics {
		return append(diags, errorAt(rng, "Invalid on",
			"on is the day of the month: a weekday of the month, like \"first Sunday\" (first, second, third, fourth or last), or a day, 1 to 31 (the month's last day in a shorter month); got %s.", showValue(v)))
	}
	if v.Type() == cty.Number {
		n, inRange := wholeNumber(v, 1, 31)
		if !inRange {
			return bad()
		}
		s.MonthDay = int(n)
		return diags
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		return bad()
	}
	fields := strings.Fields(sv.AsString())
	switch len(fields) {
	case 1:
		n, err := strconv.Atoi(fields[0])
		if err != nil || n < 1 || n > 31 {
			return bad()
		}
		s.MonthDay = n
	case 2:
		nth, ok1 := ordinals[strings.ToLower(fields[0])]
		wd, ok2 := parseWeekday(fields[1])
		if !ok1 || !ok2 {
			return bad()
		}
		s.MonthWeek, s.Weekday = nth, wd
	default:
		return bad()
	}
	return diags
}

// evalRefsAt is evalRefs that also returns where each reference was written.
func (d *decoder) evalRefsAt(expr hcl.Expression, kind, what string) ([]string, []hcl.Range, hcl.Diagnostics) {
	exprs, isList := elementExprs(expr)
	if !isList {
		names, diags := d.evalRefs(expr, kind, what) // the error for a value that is no list
		return names, nil, diags
	}
	var names []string
	var ranges []hcl.Range
	var diags hcl.Diagnostics
	for _, e := range exprs {
		name, isRef, eDiags := d.evalRef(e, kind, "")
		diags = append(diags, eDiags...)
		if !isRef {
			continue
		}
		if j := indexOf(names, name); j >= 0 {
			diags = append(diags, errorAt(e.Range(), "Duplicate "+kind+" in "+what,
				"%s.%s is already in %s at %s.", kind, name, what, at(ranges[j])))
			continue
		}
		names = append(names, name)
		ranges = append(ranges, e.Range())
	}
	return names, ranges, diags
}
