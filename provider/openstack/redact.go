package openstack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// redactTransport removes the credentials from every error response before anything reads
// it: a cloud (or a proxy in front of it) that echoes the request in its error body would
// otherwise put the password into the error hardenctl prints. Secrets are asked for at each
// response, so a token renewed since is known too.
type redactTransport struct {
	next    http.RoundTripper
	secrets func() []string
}

// redacted replaces every secret in error bodies.
const redacted = "[redacted]"

// maxErrorBody bounds what is read of an error body (the rest is dropped).
const maxErrorBody = 1 << 20

func (t *redactTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	// A cut error body (read error) is passed on as far as it was read, redacted.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	body = redact(body, t.secrets())
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// redact replaces each secret with [redacted]: as it is, and as JSON escapes it once, twice
// or three times (an error message quoting a request body that quotes the password).
func redact(b []byte, secrets []string) []byte {
	for _, s := range secrets {
		if len(s) < 4 { // a very short "secret" would redact half the message
			continue
		}
		forms := []string{s}
		for range 3 {
			j, err := json.Marshal(forms[len(forms)-1])
			if err != nil {
				break
			}
			esc := strings.TrimSuffix(strings.TrimPrefix(string(j), `"`), `"`)
			if esc == forms[len(forms)-1] {
				break
			}
			forms = append(forms, esc)
		}
		for i := len(forms) - 1; i >= 0; i-- { // the most escaped first: it contains the others
			b = bytes.ReplaceAll(b, []byte(forms[i]), []byte(redacted))
		}
	}
	return b
}
