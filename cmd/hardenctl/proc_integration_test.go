package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cliProc is a bin/hardenctl subprocess of an integration test (upgrades and scheduled runs
// that are killed, paused or raced), its output kept.
type cliProc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan int
	code int
}

// startCLI starts bin -C dir args... -cloud demo; the test's cleanup kills it if it still runs.
func startCLI(t *testing.T, bin, dir string, args ...string) *cliProc {
	t.Helper()
	p := &cliProc{done: make(chan int, 1), code: -1}
	p.cmd = exec.Command(bin, append([]string{"-C", dir}, append(args, "-cloud", "demo")...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		p.done <- code
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
		}
	})
	return p
}

func (p *cliProc) exited() bool {
	if p.code >= 0 {
		return true
	}
	select {
	case c := <-p.done:
		p.code = c
		return true
	default:
		return false
	}
}

// wait waits up to d for the exit code; past d it kills the process and fails the test.
func (p *cliProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	if p.exited() {
		return p.code
	}
	select {
	case c := <-p.done:
		p.code = c
	case <-time.After(d):
		p.cmd.Process.Kill()
		t.Fatalf("%s did not end within %s:\n%s", strings.Join(p.cmd.Args[1:], " "), d, p.output())
	}
	return p.code
}

func (p *cliProc) output() string { return lastLines(p.out.String(), 40) }

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
