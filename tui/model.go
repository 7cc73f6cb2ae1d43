package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/rollout"
)

// Options tune the UI (the zero value is fine).
type Options struct {
	// Images names the image ids the table shows (id: name, e.g. the configuration's image
	// names); an id without a name shows as its first 8 characters.
	Images map[string]string
	// Now stamps the events as they arrive and drives the elapsed times (default time.Now);
	// tests pin it.
	Now func() time.Time
	// ControlTimeout bounds one control request (default 1 minute).
	ControlTimeout time.Duration
	// DetailLines is how many of the selected server's last lines the gate detail shows
	// (default 5); enter shows all that fit.
	DetailLines int
	// Headless receives the events that arrive after the UI ended while the rollout goes on
	// (QuitDetach, QuitStop, or a UI that died): &event.Text{W: os.Stderr}, say. nil drops
	// them.
	Headless event.Hook
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ControlTimeout <= 0 {
		o.ControlTimeout = time.Minute
	}
	if o.DetailLines <= 0 {
		o.DetailLines = 5
	}
}

// Quit is how the UI ended.
type Quit int

const (
	// QuitNone: the UI has not ended.
	QuitNone Quit = iota
	// QuitDone: the rollout had ended (its end event, or UI.Finished) when the user left.
	QuitDone
	// QuitDetach: the user left while the rollout runs, choosing to let it go on without
	// the UI (headless: its events go to Options.Headless).
	QuitDetach
	// QuitStop: the user left choosing to stop the rollout: an abort request was sent
	// (Result.Err says if it failed), and the hook answers event.Halt from then on; the
	// servers in flight finish their gates, and rollout.Run returns soon after.
	QuitStop
	// QuitKilled: the UI ended by itself (its context ended, a signal, a terminal error:
	// Result.Err). The rollout is not told anything.
	QuitKilled
)

func (q Quit) String() string {
	switch q {
	case QuitDone:
		return "done"
	case QuitDetach:
		return "detach"
	case QuitStop:
		return "stop"
	case QuitKilled:
		return "killed"
	}
	return "none"
}

type mode int

const (
	modeNormal mode = iota
	modeConfirmAbort
	modeConfirmRollback
	modeQuit
	modeStopping // the abort of QuitStop is on its way; the UI quits when it answered
)

// Model is the rollout's screen: a tea.Model that only receives events (from the hook, by
// p.Send) and sends control requests through its Controller (in a tea.Cmd). Make it with
// New; it is plain data, Update switches on message types and View is pure.
type Model struct {
	title string
	ctrl  Controller
	opts  Options
	ctx   context.Context // bounds the control requests; Run sets it
	keys  keyMap
	help  help.Model
	bar   progress.Model

	width, height int
	now           time.Time

	target string
	budget int
	total  int // servers in the fleet
	todo   int // servers the rollout works on
	rows   []*row
	index  map[string]int // server name: rows index
	cursor int
	detail bool // enter: the detail shows all it can

	started, endedAt time.Time
	running, ended   bool
	err              error  // the rollout's
	startMsg         string // the rollout's start event message
	batch            string // the batch running ("" between batches)
	batchCount       int
	batchSeq         int
	use, peak        int // unavailable at the last admission, and the most at one
	useKnown         bool
	atBudget         bool
	paused           bool
	pauseWhy         string
	baking           string
	rollingBack      bool
	backTotal        int
	backWhy          string   // the rollback's event message: how many, and why
	log              []string // rollout-wide lines, newest last

	mode    mode
	pending string // a control request on its way ("" none)
	asked   string // a control request sent and not yet obeyed
	notice  string // for the user: a request's outcome
	quit    Quit
	quitErr error
}

// The messages the model receives from outside its own commands.
type (
	eventMsg struct {
		e  event.Event
		at time.Time
	}
	tickMsg    time.Time
	controlMsg struct {
		kind string
		err  error
	}
	finishedMsg struct{ err error }
)

// New makes the screen of one rollout. title heads it ("upgrade app onto debian12-node");
// plan is the rollout's plan (rollout.NewPlan from the same listing, or what the dry run
// showed) and gives the table its rows, batches and images before the first event; nil: the
// rows come from the events. ctrl sends the control requests; nil makes a watch-only screen
// (no pause, abort, rollback keys; quitting with stop only halts through the hook).
func New(title string, plan *rollout.Plan, ctrl Controller, opts Options) Model {
	opts.defaults()
	m := Model{title: title, ctrl: ctrl, opts: opts, ctx: context.Background(), keys: newKeyMap(),
		help: help.New(), index: map[string]int{},
		bar: progress.New(progress.WithFillCharacters('#', '.'), progress.WithoutPercentage(),
			progress.WithColors(greenColor))}
	m.help.Styles = helpStyles()
	if ctrl == nil {
		m.keys.Pause.SetEnabled(false)
		m.keys.Abort.SetEnabled(false)
		m.keys.Rollback.SetEnabled(false)
	}
	if plan == nil {
		return m
	}
	m.target, m.budget, m.total, m.todo = plan.Target, plan.Budget, plan.Total, plan.Servers()
	if plan.Rollback {
		m.backTotal = plan.Servers()
	}
	for _, b := range plan.Batches {
		for _, it := range b.Items {
			r := m.row(it.Server.Name)
			r.id, r.address, r.batch = it.Server.ID, it.Server.Address, b.Name
			r.prev, r.target = it.From, plan.Target
			r.back = plan.Rollback
		}
	}
	for _, s := range plan.Skipped {
		r := m.row(s.Name)
		r.id, r.address, r.phase = s.ID, s.Address, phUpToDate
		r.target, r.prev = plan.Target, plan.Target
	}
	return m
}

// Result is how the UI ended, once it has (QuitNone before).
func (m Model) Result() Result { return Result{Quit: m.quit, Err: m.quitErr, RolloutEnded: m.ended} }

// Init starts the clock of the elapsed times.
func (m Model) Init() tea.Cmd { return m.tick() }

func (m Model) tick() tea.Cmd {
	now := m.opts.Now
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return tickMsg(now()) })
}

// Update applies one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tickMsg:
		m.clock(time.Time(msg))
		return m, m.tick()
	case eventMsg:
		m.clock(msg.at)
		m.apply(msg.e, msg.at)
	case finishedMsg:
		if !m.ended {
			m.ended, m.endedAt, m.err = true, m.now, msg.err
			m.asked, m.paused, m.baking = "", false, ""
		}
	case controlMsg:
		return m.controlled(msg)
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *Model) clock(t time.Time) {
	if t.After(m.now) {
		m.now = t
	}
}

func (m Model) key(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch m.mode {
	case modeConfirmAbort, modeConfirmRollback:
		kind, what := rollout.Abort, "abort"
		if m.mode == modeConfirmRollback {
			kind, what = rollout.Rollback, "rollback"
		}
		switch {
		case key.Matches(k, m.keys.Yes):
			m.mode = modeNormal
			return m.send(kind)
		case key.Matches(k, m.keys.No):
			m.mode, m.notice = modeNormal, what+" canceled: nothing was sent"
		}
		return m, nil
	case modeQuit:
		switch {
		case key.Matches(k, m.keys.Detach), k.String() == "ctrl+c":
			m.quit = QuitDetach
			return m, tea.Quit
		case key.Matches(k, m.keys.Stop):
			m.quit = QuitStop
			if m.ctrl == nil {
				return m, tea.Quit
			}
			m.mode, m.pending = modeStopping, rollout.Abort
			return m, m.request(rollout.Abort)
		case key.Matches(k, m.keys.Stay):
			m.mode = modeNormal
		}
		return m, nil
	case modeStopping:
		if k.String() == "ctrl+c" { // do not wait for the abort's answer
			m.quitErr = context.Canceled
			return m, tea.Quit
		}
		return m, nil
	}
	switch {
	case key.Matches(k, m.keys.Up):
		m.cursor = max(0, m.cursor-1)
	case key.Matches(k, m.keys.Down):
		m.cursor = max(0, min(len(m.rows)-1, m.cursor+1))
	case key.Matches(k, m.keys.Details):
		m.detail = !m.detail
	case key.Matches(k, m.keys.Quit):
		if m.ended {
			m.quit = QuitDone
			return m, tea.Quit
		}
		m.mode = modeQuit
	case m.ended:
		// the rollout is over: nothing to control
	case key.Matches(k, m.keys.Pause):
		if m.paused {
			return m.send(rollout.Resume)
		}
		return m.send(rollout.Pause)
	case key.Matches(k, m.keys.Abort):
		m.mode = modeConfirmAbort
	case key.Matches(k, m.keys.Rollback):
		m.mode = modeConfirmRollback
	}
	return m, nil
}

// send starts a control request, one at a time.
func (m Model) send(kind string) (tea.Model, tea.Cmd) {
	if m.pending != "" {
		m.notice = "the " + m.pending + " request is still on its way"
		return m, nil
	}
	m.pending, m.notice = kind, "sending "+kind+"..."
	return m, m.request(kind)
}

func (m Model) request(kind string) tea.Cmd {
	ctx, ctrl, timeout := m.ctx, m.ctrl, m.opts.ControlTimeout
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return controlMsg{kind: kind, err: request(ctx, ctrl, kind)}
	}
}

func (m Model) controlled(msg controlMsg) (tea.Model, tea.Cmd) {
	m.pending = ""
	if msg.err != nil {
		m.notice = msg.kind + " not sent: " + msg.err.Error()
	} else {
		m.asked, m.notice = msg.kind, msg.kind+" requested: "+obeyWhen[msg.kind]
	}
	if m.mode == modeStopping {
		m.quitErr = msg.err
		return m, tea.Quit
	}
	return m, nil
}

var obeyWhen = map[string]string{
	rollout.Pause:    "the rollout pauses once the servers in flight have passed or failed their gates",
	rollout.Resume:   "the rollout goes on at its next look at the requests",
	rollout.Abort:    "the rollout stops once the servers in flight have passed or failed their gates",
	rollout.Rollback: "the rollout rolls back once the servers in flight have passed or failed their gates",
}
