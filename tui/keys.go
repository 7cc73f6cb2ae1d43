package tui

import "charm.land/bubbles/v2/key"

// keyMap is the UI's keys; it is the help line's help.KeyMap.
type keyMap struct {
	Up, Down, Details, Pause, Abort, Rollback, Quit key.Binding
	// the confirmations
	Yes, No key.Binding
	// the quit dialog
	Detach, Stop, Stay key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Details:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Pause:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Abort:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "abort")),
		Rollback: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rollback")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		No:       key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "no")),
		Detach:   key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "detach")),
		Stop:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "stop")),
		Stay:     key.NewBinding(key.WithKeys("esc", "n"), key.WithHelp("esc", "stay")),
	}
}

// ShortHelp is the help line of the main screen.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Details, k.Pause, k.Abort, k.Rollback, k.Quit}
}

// FullHelp is the same keys in one group.
func (k keyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }
