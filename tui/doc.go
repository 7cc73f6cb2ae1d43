// Package tui is the terminal UI of a rollout (`hardenctl upgrade FLEET --tui`), built on
// Bubble Tea v2, bubbles and Lip Gloss: the third subscriber of the event stream, next to
// event.Text and event.JSON. The screen only receives events and sends control requests; it
// never calls the cloud.
//
// One screen: the fleet as a table (server, address, phase, batch, old -> new image,
// score, elapsed), the rollout's state (RUNNING, PAUSED, BAKING, ROLLING BACK, DONE, ...),
// its progress bar and the budget in use as the engine counted it at its last admission
// ("budget 2/2 unavailable"), the gate detail of the selected server (its last event lines:
// rebuild, gates, probe, scan score, with their messages and errors), and a help line.
// Every phase is a word with a symbol (✓ healthy, ✗ ssh failed, ~ gate ssh, < rolling back,
// ! probe failed, - waiting); colour only underlines them.
//
// Keys: up/down (k/j) select a server; enter shows all of its detail; p pauses or resumes;
// a aborts and r rolls back, each after a y/n confirmation; q asks how to leave while the
// rollout runs: d (or ctrl+c) detaches, the rollout going on without the UI, or s stops it
// (an abort request), esc stays. Once the rollout ended, q leaves at once.
//
// Wiring (the CLI, with the rollout's plan and the lock it holds):
//
//	if !tui.IsTerminal(os.Stdin) || !tui.IsTerminal(os.Stderr) {
//		// no terminal: the text view, event.Text on stderr, instead
//	}
//	ctrl := &tui.LockController{Store: store, Controls: store, Name: lock.UpgradeName(cfg, fleet), By: who}
//	m := tui.New("upgrade "+fleet+" onto "+imageName, plan, ctrl, tui.Options{
//		Images:   map[string]string{targetID: imageName, ...},
//		Headless: &event.Text{W: os.Stderr}, // the events after a detach
//	})
//	ui := tui.Run(ctx, os.Stdin, os.Stderr, m)
//	deps.Hook = ui // rollout.Deps.Hook: events reach the program by p.Send
//	res, err := rollout.Run(ctx, spec, deps, opts)
//	ui.Finished(err) // the screen shows the outcome, also of a rollout that failed to start
//	r := <-ui.Done() // the user leaves: r.Quit is QuitDone, QuitDetach, QuitStop or QuitKilled
//
// rollout.Run blocks until the rollout ends however the UI ended: after a detach its
// events go to Options.Headless; after a stop the abort request was sent through the
// Controller (r.Err says if that failed) and the hook answers event.Halt, so the engine
// starts nothing new, lets the servers in flight finish their gates and returns. The plan
// given to New is for the rows before the first event; make it with rollout.NewPlan from the
// same listing and pass rollout.Options.NewID returning plan.RolloutID, or let the rows come
// from the events (plan nil).
//
// Controller is declared here (Pause, Resume, Abort, Rollback); LockController implements
// it with lock.Send, the path `upgrade FLEET --pause` takes from another terminal. Requests
// run in a tea.Cmd, one at a time; the screen says "pause requested" until the rollout's
// own event says it obeyed.
//
// Tests: golden frames (testdata/<TestName>.golden, go test ./tui -update) of scripted
// event sequences at 110x32 with the colour profile pinned to NoTTY (no escape sequences:
// the words alone must carry the meaning), key flows with teatest v2, and the real engine's
// events (rollout.Run against fakes) read by the model.
//
// The package imports neither gophercloud nor x/crypto (cmd/hardenctl/deps_test.go).
package tui
