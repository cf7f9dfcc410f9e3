package notifier

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Mailer submits one message to the mail server. A nil error means the
// server accepted it.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// SMTPMailer submits over SMTP, one connection per message.
type SMTPMailer struct {
	Host string
	Port int
	From string
	// FromName is shown beside From: the university's LEAP.
	FromName string
	TLS      v1alpha1.SMTPTLS
	// Username and Password authenticate when Username is set.
	Username, Password string
	// CredentialsDir, when set, holds the files username and password
	// (the mounted Secret), read at each send so that a changed password
	// takes effect without a restart; they override Username and Password.
	CredentialsDir string
	// TLSConfig overrides the default (the system's roots, ServerName
	// Host); tests trust their own server's certificate through it.
	TLSConfig *tls.Config
	Timeout   time.Duration
}

func (s *SMTPMailer) client() (*mail.Client, error) {
	user, password := s.Username, s.Password
	if s.CredentialsDir != "" {
		u, err := os.ReadFile(filepath.Join(s.CredentialsDir, "username"))
		if err != nil {
			return nil, fmt.Errorf("smtp credentials: %w", err)
		}
		p, err := os.ReadFile(filepath.Join(s.CredentialsDir, "password"))
		if err != nil {
			return nil, fmt.Errorf("smtp credentials: %w", err)
		}
		user, password = strings.TrimSpace(string(u)), strings.TrimRight(string(p), "\r\n")
	}
	opts := []mail.Option{mail.WithPort(s.Port), mail.WithTimeout(s.timeout()), mail.WithHELO("leap-notifier")}
	switch s.TLS {
	case v1alpha1.SMTPImplicitTLS:
		opts = append(opts, mail.WithSSL())
	case v1alpha1.SMTPNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(s.TLSConfig))
	}
	if user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(user), mail.WithPassword(password))
	}
	return mail.NewClient(s.Host, opts...)
}

func (s *SMTPMailer) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

// Send builds the multipart message (text, with HTML as its alternative)
// and submits it. The Message-ID derives from the idempotency key, so
// even the one duplicate SMTP cannot rule out (a connection lost after
// the server accepted, before it said so) carries the same id.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	msg := mail.NewMsg()
	if err := msg.FromFormat(s.FromName, s.From); err != nil {
		return fmt.Errorf("from %s: %w", s.From, err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("to %s: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(messageID(m.ID, s.From))
	msg.SetGenHeader("X-Leap-Notification", m.ID)
	msg.SetDateWithValue(time.Now())
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)

	c, err := s.client()
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s:%d: %w", s.Host, s.Port, err)
	}
	// The message is accepted once SendWithSMTPClient returns nil; an
	// error closing the connection after that must not count as a
	// failure, or the retry would send it twice (DialAndSend joins the
	// two).
	defer func() { _ = c.CloseWithSMTPClient(conn) }()
	if err := c.SendWithSMTPClient(conn, msg); err != nil {
		return fmt.Errorf("send to %s: %w", m.To, err)
	}
	return nil
}

// messageID is <KEY@DOMAIN> with the key's slashes as dots.
func messageID(key, from string) string {
	_, domain, _ := strings.Cut(from, "@")
	return strings.ReplaceAll(key, "/", ".") + "@" + domain
}
