package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/rollout"
)

// Colours only underline what the words and symbols say: every phase, state and outcome is
// written out, so the screen reads the same without colour (NO_COLOR, a monochrome
// terminal, the golden frames).
const (
	greenColor  = lipgloss.Green
	redColor    = lipgloss.Red
	yellowColor = lipgloss.Yellow
	blueColor   = lipgloss.Blue
)

type styles struct {
	title, faint, bold, header, ok, bad, warn, busy lipgloss.Style
}

func newStyles() styles {
	s := lipgloss.NewStyle()
	return styles{
		title:  s.Bold(true),
		faint:  s.Faint(true),
		bold:   s.Bold(true),
		header: s.Bold(true).Underline(true),
		ok:     s.Foreground(greenColor),
		bad:    s.Foreground(redColor).Bold(true),
		warn:   s.Foreground(yellowColor).Bold(true),
		busy:   s.Foreground(blueColor),
	}
}

func helpStyles() help.Styles {
	s := lipgloss.NewStyle()
	return help.Styles{ShortKey: s.Bold(true), ShortDesc: s, ShortSeparator: s.Faint(true), Ellipsis: s.Faint(true),
		FullKey: s.Bold(true), FullDesc: s, FullSeparator: s.Faint(true)}
}

// View draws the screen; it reads the model only.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "hardenctl " + m.title
	return v
}

func (m Model) size() (int, int) {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		w, h = 80, 24
	}
	return w, h
}

func (m Model) render() string {
	st := newStyles()
	w, h := m.size()
	top := []string{m.titleLine(st), m.stateLine(st), m.progressLine(st), ""}
	bottom := m.bottomLines(st)
	helpLine := m.helpLine(w)

	// Lines left for the table's rows and the detail's lines, after their headings, the
	// blank line between them and the help line.
	space := h - len(top) - len(bottom) - 1 - 1 - 1 - 1
	shown, detailN := len(m.rows), m.opts.DetailLines
	if m.detail {
		shown = min(len(m.rows), 3)
		detailN = space - shown
	} else if shown > space-detailN {
		shown = max(min(len(m.rows), 3), space-detailN)
		detailN = space - shown
	}
	shown, detailN = max(0, shown), max(1, detailN)

	lines := append([]string(nil), top...)
	lines = append(lines, m.table(st, w, shown)...)
	lines = append(lines, "")
	lines = append(lines, m.detailLines(st, w, detailN)...)
	for len(lines)+len(bottom)+1 < h {
		lines = append(lines, "")
	}
	lines = append(lines, bottom...)
	lines = append(lines, helpLine)
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return strings.Join(lines, "\n")
}

func (m Model) titleLine(st styles) string {
	about := m.startMsg
	if about == "" {
		about = "waiting for the rollout to start"
		if m.target != "" {
			about = fmt.Sprintf("onto %s: %d of %d servers to do, budget %d unavailable", m.image(m.target), m.todo, m.total, m.budget)
		}
	}
	return st.title.Render("hardenctl "+m.title) + "  " + st.faint.Render(about)
}

// state is the rollout's state in a word, its style and what goes with it.
func (m Model) state(st styles) (string, lipgloss.Style, string) {
	switch {
	case m.ended && m.err == nil:
		if m.rollingBack {
			return "ROLLED BACK", st.warn, "the servers are back on their previous images"
		}
		return "DONE", st.ok, "every server is on the target and healthy"
	case m.ended && errors.Is(m.err, rollout.ErrRolledBack):
		return "ROLLED BACK", st.warn, m.err.Error()
	case m.ended && errors.Is(m.err, rollout.ErrAborted):
		return "ABORTED", st.warn, m.err.Error()
	case m.ended && errors.Is(m.err, event.ErrHalted):
		return "STOPPED", st.warn, m.err.Error()
	case m.ended:
		return "FAILED", st.bad, m.err.Error()
	case !m.running:
		return "STARTING", st.faint, "waiting for the rollout's first event"
	case m.paused:
		return "PAUSED", st.warn, m.pauseWhy + "; p resumes"
	case m.baking != "":
		return "BAKING", st.busy, m.baking
	}
	word := "RUNNING"
	if m.rollingBack {
		word = "ROLLING BACK"
	}
	what := "between batches"
	if m.batch != "" {
		what = fmt.Sprintf("%s: %d server(s)", m.batch, m.batchCount)
	}
	if m.rollingBack && m.backWhy != "" {
		what += "; " + m.backWhy
	}
	return word, st.busy, what
}

func (m Model) stateLine(st styles) string {
	word, style, what := m.state(st)
	line := style.Render(word)
	if !m.started.IsZero() {
		end := m.now
		if m.ended {
			end = m.endedAt
		}
		line += "  elapsed " + dur(end.Sub(m.started))
	}
	if m.asked != "" {
		line += "  (" + m.asked + " requested)"
	}
	return line + "  " + what
}

func (m Model) progressLine(st styles) string {
	done, failed, total, what := 0, 0, m.todo, "upgraded"
	if m.rollingBack {
		total, what = m.backTotal, "rolled back"
	}
	for _, r := range m.rows {
		switch {
		case r.phase == phFailed:
			failed++
		case m.rollingBack && r.phase == phRolledBack, !m.rollingBack && r.phase == phHealthy:
			done++
		}
	}
	pct := 1.0
	if total > 0 {
		pct = float64(min(done, total)) / float64(total)
	}
	bar := m.bar
	bar.SetWidth(24)
	line := "[" + bar.ViewAs(pct) + "]" + fmt.Sprintf(" %3.0f%%  %d/%d %s", pct*100, done, total, what)
	if failed > 0 {
		line += ", " + st.bad.Render(fmt.Sprintf("%d failed", failed))
	}
	budget := "budget ?"
	switch {
	case m.ended && m.budget > 0:
		budget = fmt.Sprintf("budget %d, peak %d unavailable", m.budget, m.peak)
	case m.useKnown || m.budget > 0:
		budget = fmt.Sprintf("budget %d/%d unavailable", m.use, m.budget)
		if m.peak > m.use {
			budget += fmt.Sprintf(" (peak %d)", m.peak)
		}
	}
	if m.atBudget {
		budget = st.warn.Render(budget + ": at the budget, nothing starts")
	}
	return line + "   " + budget
}

// table draws the heading and the rows of the fleet, shown of them around the cursor.
func (m Model) table(st styles, w, shown int) []string {
	head := []string{" ", "SERVER", "ADDRESS", "PHASE", "BATCH", "IMAGE old -> new", "SCORE", "ELAPSED"}
	cells := make([][]string, len(m.rows))
	for i, r := range m.rows {
		mark := " "
		if i == m.cursor {
			mark = ">"
		}
		ph, _ := m.phaseText(st, r)
		cells[i] = []string{mark, r.name, r.address, ph, r.batch, m.images(r), score(r.score), m.elapsed(r)}
	}
	widths := make([]int, len(head))
	for c := range head {
		widths[c] = ansi.StringWidth(head[c])
		for _, row := range cells {
			widths[c] = max(widths[c], ansi.StringWidth(row[c]))
		}
	}
	// Too wide: the images, then the addresses, the names, phases and batches give way.
	minw := []int{1, 6, 7, 10, 5, 10, 5, 7}
	total := func() int {
		n := 2 * (len(widths) - 2)
		for _, x := range widths {
			n += x
		}
		return n + 1
	}
	for _, c := range []int{5, 2, 1, 3, 4} {
		if over := total() - w; over > 0 {
			widths[c] = max(minw[c], widths[c]-over)
		}
	}
	cell := func(s string, c int) string {
		s = ansi.Truncate(s, widths[c], "…")
		return s + strings.Repeat(" ", widths[c]-ansi.StringWidth(s))
	}
	join := func(parts []string) string {
		return parts[0] + " " + strings.Join(parts[1:], "  ")
	}
	hs := make([]string, len(head))
	for c := range head {
		hs[c] = st.header.Render(cell(head[c], c))
	}
	hs[0] = cell(head[0], 0)
	start := 0
	if m.cursor >= shown {
		start = m.cursor - shown + 1
	}
	end := min(len(m.rows), start+shown)
	heading := join(hs)
	if shown < len(m.rows) {
		heading += fmt.Sprintf("  rows %d-%d of %d", start+1, end, len(m.rows))
	}
	out := []string{heading}
	for i := start; i < end; i++ {
		_, phStyle := m.phaseText(st, m.rows[i])
		parts := make([]string, len(head))
		for c := range head {
			s := cell(cells[i][c], c)
			switch {
			case c == 3:
				s = phStyle.Render(s)
			case i == m.cursor:
				s = st.bold.Render(s)
			}
			parts[c] = s
		}
		out = append(out, join(parts))
	}
	if len(m.rows) == 0 {
		out = append(out, st.faint.Render("  no servers yet"))
	}
	return out
}

// phaseText is a server's phase in words, with a symbol: ✓ done, ✗ failed, ~ working, <
// rolling back, ! probe failed, = nothing to do, - waiting or gone.
func (m Model) phaseText(st styles, r *row) (string, lipgloss.Style) {
	arrow := "~"
	if r.back {
		arrow = "<"
	}
	switch {
	case r.phase == phFailed:
		return "✗ " + r.gate + " failed", st.bad
	case r.probeFailed && (r.phase == phWaiting || r.phase == phUpToDate || r.phase == phHealthy):
		return "! probe failed", st.warn
	case r.phase == phUpToDate:
		return "= up to date", st.faint
	case r.phase == phRebuilding && r.back:
		return "< rolling back", st.warn
	case r.phase == phRebuilding:
		return "~ rebuilding", st.busy
	case r.phase == phGating && r.gateRunning:
		return arrow + " gate " + r.gate, st.busy
	case r.phase == phGating:
		return arrow + " " + r.gate + " passed", st.busy
	case r.phase == phHealthy:
		return "✓ healthy", st.ok
	case r.phase == phRolledBack:
		return "✓ rolled back", st.ok
	case r.phase == phGone:
		return "- gone", st.faint
	}
	return "- waiting", st.faint
}

func (m Model) image(id string) string {
	if n, ok := m.opts.Images[id]; ok {
		return n
	}
	switch {
	case id == "":
		return "?"
	case len(id) > 8:
		return id[:8]
	}
	return id
}

func (m Model) images(r *row) string {
	if r.phase == phUpToDate || r.prev == r.target && r.prev != "" {
		return m.image(r.target)
	}
	if r.back {
		return m.image(r.target) + " -> " + m.image(r.prev)
	}
	return m.image(r.prev) + " -> " + m.image(r.target)
}

func score(s *float64) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *s)
}

func (m Model) elapsed(r *row) string {
	if r.started.IsZero() {
		return "-"
	}
	end := r.ended
	if end.IsZero() {
		end = m.now
	}
	return dur(end.Sub(r.started))
}

func dur(d time.Duration) string {
	d = max(0, d.Round(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// detailLines is the selected server's gate detail: its last n event lines (scan, probe,
// gates, with their messages and errors).
func (m Model) detailLines(st styles, w, n int) []string {
	if len(m.rows) == 0 {
		return []string{st.faint.Render("gate detail: no server selected")}
	}
	r := m.rows[min(m.cursor, len(m.rows)-1)]
	ph, phStyle := m.phaseText(st, r)
	head := st.bold.Render(r.name) + "  " + phStyle.Render(ph) + "  " + st.faint.Render("gate detail")
	if !m.detail {
		head += st.faint.Render(" (enter: all)")
	}
	out := []string{head}
	lines := r.lines
	if m.detail {
		info := []string{fmt.Sprintf("  id %s  address %s  batch %s", or(r.id, "?"), or(r.address, "?"), or(r.batch, "-")),
			fmt.Sprintf("  from %s  to %s", or(r.prev, "?"), or(r.target, "?"))}
		if r.back {
			info[1] = fmt.Sprintf("  rolling back from %s  to %s", or(r.target, "?"), or(r.prev, "?"))
		}
		out = append(out, info...)
		n -= len(info)
	}
	if len(lines) == 0 {
		return append(out, st.faint.Render("  no events yet"))
	}
	if m.detail { // whole lines, wrapped (continuations indented); else each cut at the edge
		var wrapped []string
		for _, l := range lines {
			parts := strings.Split(ansi.Wrap(l, max(10, w-6), " "), "\n")
			for i := 1; i < len(parts); i++ {
				parts[i] = "  " + parts[i]
			}
			wrapped = append(wrapped, parts...)
		}
		lines = wrapped
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		out = append(out, "  "+l)
	}
	return out
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// bottomLines are the dialog of the mode, or the last note for the user.
func (m Model) bottomLines(st styles) []string {
	switch m.mode {
	case modeConfirmAbort:
		return []string{st.warn.Render("Abort the rollout?") + " It stops once the servers in flight have passed or failed their gates; every server stays as it is (no rollback).",
			"[y] abort   [n/esc] cancel"}
	case modeConfirmRollback:
		return []string{st.warn.Render("Roll back?") + " The servers this rollout moved are rebuilt onto their previous images, newest first, under the same budget and gates.",
			"[y] roll back   [n/esc] cancel"}
	case modeQuit:
		stop := "[s] stop: abort the rollout (the servers in flight finish their gates), then leave"
		if m.ctrl == nil {
			stop = "[s] stop: halt the rollout at its next event (the servers in flight finish their gates), then leave"
		}
		return []string{st.warn.Render("Leave the UI while the rollout runs?"),
			"[d/ctrl+c] detach: the rollout goes on without the UI (its events go on as text)",
			stop,
			"[esc] stay"}
	case modeStopping:
		return []string{st.warn.Render("Stopping:") + " sending abort to the rollout, then leaving (ctrl+c: leave now)"}
	}
	if m.notice != "" {
		return []string{m.notice}
	}
	if len(m.log) > 0 {
		return []string{st.faint.Render(m.log[len(m.log)-1])}
	}
	return []string{""}
}

func (m Model) helpLine(w int) string {
	h := m.help
	h.SetWidth(w)
	k := m.keys
	switch m.mode {
	case modeConfirmAbort, modeConfirmRollback:
		return h.ShortHelpView([]key.Binding{k.Yes, k.No})
	case modeQuit:
		return h.ShortHelpView([]key.Binding{k.Detach, k.Stop, k.Stay})
	case modeStopping:
		return ""
	}
	if m.paused {
		k.Pause.SetHelp("p", "resume")
	}
	if m.ended {
		k.Pause.SetEnabled(false)
		k.Abort.SetEnabled(false)
		k.Rollback.SetEnabled(false)
	}
	return h.ShortHelpView(k.ShortHelp())
}
