// Package mailpit runs Mailpit, the SMTP sink built by hack/build-mailpit.sh
// (`make mailpit`), and reads what it received through its HTTP API: the
// notifier's tests assert on the messages a real SMTP server accepted, and
// `make run` gives newcomers an inbox to read.
package mailpit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Binary is the Mailpit to run: $MAILPIT (the Makefile exports it), else
// the newest bin/tools/mailpit-* above the working directory.
func Binary() (string, error) {
	if p := os.Getenv("MAILPIT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("MAILPIT=%s: %w (run make mailpit)", p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, "bin", "tools", "mailpit-*"))
		if len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("mailpit is not built: run make mailpit (hack/build-mailpit.sh builds it from its Go module)")
		}
		dir = parent
	}
}

// Options of a Mailpit server.
type Options struct {
	// SMTP and HTTP are the addresses to listen on, host:port.
	SMTP, HTTP string
	// Dir holds its database.
	Dir string
	// TLSCert and TLSKey (PEM files) offer STARTTLS, or with ImplicitTLS
	// speak TLS from the first byte.
	TLSCert, TLSKey string
	ImplicitTLS     bool
	// AuthFile is an htpasswd file of the SMTP users; absent, any
	// username and password (or none) is accepted.
	AuthFile string
}

// Server is a running Mailpit.
type Server struct {
	Options
	bin string
	cmd *exec.Cmd
	out io.Writer
}

// Start runs Mailpit from bin and waits until it answers. Its output goes
// to out (nil: discarded).
func Start(bin string, o Options, out io.Writer) (*Server, error) {
	s := &Server{Options: o, bin: bin, out: out}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) args() []string {
	a := []string{"--smtp", s.SMTP, "--listen", s.HTTP, "--database", filepath.Join(s.Dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet"}
	if s.TLSCert != "" {
		a = append(a, "--smtp-tls-cert", s.TLSCert, "--smtp-tls-key", s.TLSKey)
		if s.ImplicitTLS {
			a = append(a, "--smtp-require-tls")
		} else {
			a = append(a, "--smtp-require-starttls")
		}
	}
	if s.AuthFile != "" {
		a = append(a, "--smtp-auth-file", s.AuthFile)
	} else {
		a = append(a, "--smtp-auth-accept-any")
		if s.TLSCert == "" {
			a = append(a, "--smtp-auth-allow-insecure")
		}
	}
	return a
}

func (s *Server) start() error {
	s.cmd = exec.Command(s.bin, s.args()...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Its own process group, so that stopping it never signals its parent's.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start mailpit: %w", err)
	}
	exited := make(chan error, 1)
	go func(c *exec.Cmd) { exited <- c.Wait() }(s.cmd)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("mailpit exited at start: %w", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", s.SMTP, 200*time.Millisecond); err == nil {
			_ = c.Close()
			if resp, err := http.Get("http://" + s.HTTP + "/readyz"); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
	return errors.New("mailpit did not answer within 30 s")
}

// Stop ends Mailpit; what it received stays in Dir for a Restart.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	for range 100 {
		c, err := net.DialTimeout("tcp", s.SMTP, 50*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
}

// Restart starts it again on the same addresses and database.
func (s *Server) Restart() error { return s.start() }

// InboxURL is the address of its web interface and API.
func (s *Server) InboxURL() string { return "http://" + s.HTTP + "/" }

// Summary is a received message as Mailpit lists it.
type Summary struct {
	ID        string          `json:"ID"`
	MessageID string          `json:"MessageID"`
	From      *mail.Address   `json:"From"`
	To        []*mail.Address `json:"To"`
	Subject   string          `json:"Subject"`
	Created   time.Time       `json:"Created"`
}

// Message is a received message in full.
type Message struct {
	Summary
	Text string `json:"Text"`
	HTML string `json:"HTML"`
}

// Messages lists every message received, newest first.
func (s *Server) Messages(ctx context.Context) ([]Summary, error) {
	var out struct {
		Total    int       `json:"total"`
		Messages []Summary `json:"messages"`
	}
	if err := s.get(ctx, "/api/v1/messages?limit=1000", &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Message reads one message with its text and HTML parts.
func (s *Server) Message(ctx context.Context, id string) (Message, error) {
	var m Message
	err := s.get(ctx, "/api/v1/message/"+id, &m)
	return m, err
}

// DeleteAll empties the inbox.
func (s *Server) DeleteAll(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+s.HTTP+"/api/v1/messages", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit: delete answered %s", resp.Status)
	}
	return nil
}

func (s *Server) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTP+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
