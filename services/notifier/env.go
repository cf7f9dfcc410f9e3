package notifier

import (
	"time"

	"github.com/leap-dev/leap/services/config"
)

// FromEnv reads the notifier's own settings: NOTIFICATIONS (the LeapTerm's
// spec.notifications as JSON), SCORING_URL, SMTP_USERNAME and
// SMTP_PASSWORD (from the Secret spec.notifications.smtp names), and the
// NOTIFIER_TICK and SMTP_TIMEOUT timings. Redis, the policy and the ports
// are app.Setup's. Problems are collected in env.
func FromEnv(env *config.Env) (*Notifier, error) {
	raw := env.Required("NOTIFICATIONS", "the LeapTerm's spec.notifications as JSON (the operator sets it)")
	scoring := env.Required("SCORING_URL", "the scoring service's base URL, such as http://leap-scoring")
	user := env.String("SMTP_USERNAME", "")
	password := env.String("SMTP_PASSWORD", "")
	credentials := env.String("SMTP_CREDENTIALS_DIR", "")
	tick := env.Duration("NOTIFIER_TICK", 5*time.Second, 100*time.Millisecond, 10*time.Minute)
	timeout := env.Duration("SMTP_TIMEOUT", 30*time.Second, time.Second, 5*time.Minute)
	var s *Settings
	if raw != "" {
		var err error
		if s, err = ParseSettings([]byte(raw)); err != nil {
			env.Fail(err)
		}
	}
	if err := env.Err(); err != nil {
		return nil, err
	}
	return &Notifier{
		Settings: s, ScoringURL: scoring, Tick: tick,
		Mailer: &SMTPMailer{
			Host: s.SMTP.Host, Port: int(s.SMTP.Port), From: s.SMTP.From, FromName: s.UniversityName + " LEAP",
			TLS: s.SMTP.TLS, Username: user, Password: password, CredentialsDir: credentials, Timeout: timeout,
		},
	}, nil
}
