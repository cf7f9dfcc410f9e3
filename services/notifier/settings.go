package notifier

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Settings are the LeapTerm's spec.notifications, as the operator passes
// them in NOTIFICATIONS (JSON), defaulted and checked.
type Settings struct {
	v1alpha1.Notifications
	days   [7]bool
	hour   int
	minute int
}

// ParseSettings reads spec.notifications as JSON. The API server has
// checked it already; a value set by hand in a local run gets the same
// checks here, with a message naming the field.
func ParseSettings(b []byte) (*Settings, error) {
	s := &Settings{}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.Notifications); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	if dec.More() {
		return nil, errors.New("notifications: more than one JSON value")
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return s, nil
}

func (s *Settings) check() error {
	n := &s.Notifications
	if !n.Enabled {
		return errors.New("enabled is false: the notifier runs only when notifications are on")
	}
	if strings.TrimSpace(n.UniversityName) == "" {
		return errors.New("universityName is empty: every email is signed with it")
	}
	if n.PortalURL != "" {
		u, err := url.Parse(n.PortalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("portalURL %q: want an http:// or https:// address", n.PortalURL)
		}
		n.PortalURL = strings.TrimSuffix(n.PortalURL, "/")
	}
	if n.SMTP == nil {
		return errors.New("smtp is missing")
	}
	if n.SMTP.Host == "" || strings.ContainsAny(n.SMTP.Host, " /:@") {
		return fmt.Errorf("smtp.host %q: want a host name", n.SMTP.Host)
	}
	if n.SMTP.Port == 0 {
		n.SMTP.Port = 587
	}
	if n.SMTP.Port < 1 || n.SMTP.Port > 65535 {
		return fmt.Errorf("smtp.port %d: want 1 to 65535", n.SMTP.Port)
	}
	if n.SMTP.TLS == "" {
		n.SMTP.TLS = v1alpha1.SMTPStartTLS
	}
	switch n.SMTP.TLS {
	case v1alpha1.SMTPStartTLS, v1alpha1.SMTPImplicitTLS, v1alpha1.SMTPNone:
	default:
		return fmt.Errorf("smtp.tls %q: want StartTLS, ImplicitTLS or None", n.SMTP.TLS)
	}
	if n.SMTP.TLS == v1alpha1.SMTPNone && n.SMTP.CredentialsSecret != "" {
		return errors.New("smtp.credentialsSecret needs tls StartTLS or ImplicitTLS: a password is never sent in plain text")
	}
	if err := checkAddress(n.SMTP.From); err != nil {
		return fmt.Errorf("smtp.from: %w", err)
	}
	if len(n.Digest.Days) == 0 {
		n.Digest.Days = []v1alpha1.Weekday{"Monday", "Thursday"}
	}
	for _, d := range n.Digest.Days {
		i := weekdayIndex(d)
		if i < 0 {
			return fmt.Errorf("digest.days: %q is not a day of the week (Monday to Sunday)", d)
		}
		s.days[i] = true
	}
	if n.Digest.Time == "" {
		n.Digest.Time = "08:00"
	}
	h, m, err := parseClock(n.Digest.Time)
	if err != nil {
		return fmt.Errorf("digest.time: %w", err)
	}
	s.hour, s.minute = h, m
	// The targets' addresses are taken from the policy, which the portal
	// reads too (see Notifier.referral); they are checked here all the
	// same, as input.
	seen := map[string]bool{}
	for i, t := range n.ReferralTargets {
		if t.Service == "" {
			return fmt.Errorf("referralTargets[%d]: no service named", i)
		}
		if err := checkAddress(t.Email); err != nil {
			return fmt.Errorf("referralTargets[%d] (%s): %w", i, t.Service, err)
		}
		if seen[t.Service] {
			return fmt.Errorf("referralTargets[%d]: %s is listed twice", i, t.Service)
		}
		seen[t.Service] = true
	}
	return nil
}

// checkAddress accepts a bare address (no display name): it is written
// into headers, so nothing else may ride along.
func checkAddress(a string) error {
	p, err := mail.ParseAddress(a)
	if err != nil || p.Address != a || p.Name != "" {
		return fmt.Errorf("%q is not an email address such as leap@example.ac.uk", a)
	}
	return nil
}

func parseClock(v string) (hour, minute int, err error) {
	hs, ms, ok := strings.Cut(v, ":")
	if ok && len(hs) == 2 && len(ms) == 2 {
		h, err1 := strconv.Atoi(hs)
		m, err2 := strconv.Atoi(ms)
		if err1 == nil && err2 == nil && h >= 0 && h < 24 && m >= 0 && m < 60 {
			return h, m, nil
		}
	}
	return 0, 0, fmt.Errorf("%q: want HH:MM on a 24-hour clock, such as 08:00", v)
}

var weekdays = [7]v1alpha1.Weekday{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

func weekdayIndex(d v1alpha1.Weekday) int {
	for i, w := range weekdays {
		if w == d {
			return i
		}
	}
	return -1
}

// LastSlot is the most recent digest time at or before now, in loc, within
// the past week; false when the schedule names no day (never, once
// checked).
func (s *Settings) LastSlot(now time.Time, loc *time.Location) (time.Time, bool) {
	local := now.In(loc)
	for back := 0; back <= 7; back++ {
		d := local.AddDate(0, 0, -back)
		if !s.days[d.Weekday()] {
			continue
		}
		slot := time.Date(d.Year(), d.Month(), d.Day(), s.hour, s.minute, 0, 0, loc)
		if !slot.After(now) {
			return slot, true
		}
	}
	return time.Time{}, false
}
