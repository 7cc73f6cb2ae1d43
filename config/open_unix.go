//go:build unix

package config

import (
	"os"
	"syscall"
)

// openFlags open a configuration file without blocking: opening a FIFO for reading would
// otherwise wait for a writer, forever.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
