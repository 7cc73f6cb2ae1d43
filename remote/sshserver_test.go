package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// sshTestServer is an in-process SSH server on 127.0.0.1 (httptest-style) for the SSH layer's
// error paths: exec requests run `sh -c` on this machine, the sftp subsystem serves the local
// file system, and direct-tcpip channels are forwarded, so it can also play the bastion.
type sshTestServer struct {
	Addr    string
	HostKey ssh.Signer

	ln       net.Listener
	authKeys []ssh.PublicKey
	pathDir  string // prepended to PATH of exec'd commands (a fake sudo lives there)
	accepted atomic.Int32
	forwards atomic.Int32

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newTestSigner(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

// writeTestIdentity writes priv as an OpenSSH private key file and returns its path.
func writeTestIdentity(t testing.TB, priv ed25519.PrivateKey) string {
	t.Helper()
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startSSHTestServer serves until the test ends; clients authenticate with one of authKeys.
func startSSHTestServer(t testing.TB, authKeys ...ssh.PublicKey) *sshTestServer {
	t.Helper()
	hk, _ := newTestSigner(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshTestServer{Addr: ln.Addr().String(), HostKey: hk, ln: ln, authKeys: authKeys, pathDir: t.TempDir()}
	sudo := "#!/bin/sh\n[ \"$1\" = -n ] || { echo 'sudo: -n expected' >&2; exit 1; }\nshift\nSUDO_USER=test exec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(s.pathDir, "sudo"), []byte(sudo), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range s.authKeys {
				if string(k.Marshal()) == string(key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errTestUnauthorized
		},
	}
	cfg.AddHostKey(hk)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, nc)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(nc, cfg)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

var errTestUnauthorized = &net.AddrError{Err: "key not authorized"}

// DropConns closes every connection accepted so far (a dying bastion).
func (s *sshTestServer) DropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *sshTestServer) Close() {
	s.ln.Close()
	s.DropConns()
	s.wg.Wait()
}

// KnownHostsLine is this server's known_hosts line.
func (s *sshTestServer) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey.PublicKey())
}

func (s *sshTestServer) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		nc.Close()
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			ch, creqs, err := nch.Accept()
			if err != nil {
				continue
			}
			go s.session(ch, creqs)
		case "direct-tcpip":
			var p struct {
				Host     string
				Port     uint32
				OrigHost string
				OrigPort uint32
			}
			if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
				nch.Reject(ssh.ConnectionFailed, err.Error())
				continue
			}
			tc, err := net.Dial("tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
			if err != nil {
				nch.Reject(ssh.ConnectionFailed, err.Error())
				continue
			}
			ch, creqs, err := nch.Accept()
			if err != nil {
				tc.Close()
				continue
			}
			s.forwards.Add(1)
			go ssh.DiscardRequests(creqs)
			go func() { io.Copy(ch, tc); ch.CloseWrite(); ch.Close() }()
			go func() { io.Copy(tc, ch); tc.Close() }()
		default:
			nch.Reject(ssh.UnknownChannelType, "unsupported")
		}
	}
}

func (s *sshTestServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			go ssh.DiscardRequests(reqs) // signals are ignored, as a server may do
			cmd := exec.Command("sh", "-c", p.Command)
			cmd.Env = append(os.Environ(), "PATH="+s.pathDir+":"+os.Getenv("PATH"))
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			stdin, _ := cmd.StdinPipe()
			go func() { io.Copy(stdin, ch); stdin.Close() }()
			status := uint32(127)
			if err := cmd.Run(); err == nil {
				status = 0
			} else if ee, ok := err.(*exec.ExitError); ok {
				status = uint32(ee.ExitCode())
			}
			b := make([]byte, 4)
			binary.BigEndian.PutUint32(b, status)
			ch.SendRequest("exit-status", false, b)
			return
		case "subsystem":
			var p struct{ Name string }
			if ssh.Unmarshal(req.Payload, &p) != nil || p.Name != "sftp" {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			srv, err := sftp.NewServer(ch)
			if err != nil {
				return
			}
			srv.Serve()
			srv.Close()
			return
		default:
			req.Reply(false, nil)
		}
	}
}
