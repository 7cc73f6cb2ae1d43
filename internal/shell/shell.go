// Package shell quotes words for POSIX shell command lines: the one quoter of the code base
// (the SSH transport's command wrapper, the scanner's oscap command lines, the image
// pipeline's scripts).
package shell

import "strings"

// safe are the bytes a word may consist of to be left unquoted.
const safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,@+"

// Quote quotes s as one word for a POSIX shell: as it is when it holds only letters, digits
// and _-./=:,@+ (and is not empty), else in single quotes, each ' written as '\”.
func Quote(s string) string {
	if s != "" && strings.Trim(s, safe) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
