package notifier

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/store"
)

// Notifier plans and sends. Every replica runs one; Step does the work
// only on the replica holding the lease.
type Notifier struct {
	Redis    redis.UniversalClient
	Settings *Settings
	// Policy gives the LeapTerm's timezone, in which digests are due.
	Policy *policy.Source
	// ScoringURL is the scoring service's base URL: alerts come from it.
	ScoringURL string
	HTTP       *http.Client
	Mailer     Mailer
	Now        func() time.Time
	Log        *slog.Logger
	// Tick is how often Run steps; 5 s when zero.
	Tick time.Duration
	// RetryBase is the first retry's delay, doubled at each attempt up to
	// RetryMax; MaxAttempts ends the tries. Zero: 30 s, 30 min, 12.
	RetryBase, RetryMax time.Duration
	MaxAttempts         int

	once    sync.Once
	token   string
	metrics *metrics
	// leaseFor overrides leaseTTL in tests that stop a holder.
	leaseFor time.Duration
}

// Lease timings: a stalled holder keeps the lease leaseTTL at most. A
// message is held for claimHold once taken for an attempt: longer than
// any send (the SMTP timeout is 30 s), so no two senders overlap.
const (
	leaseTTL  = 30 * time.Second
	claimHold = 2 * time.Minute
	// catchUp is how late a scheduled digest still goes out (a notifier
	// down at 08:00 sends at 09:30; one down for a day skips it).
	catchUp = 12 * time.Hour
	// referralGrace is how long a referral to a service this replica's
	// policy does not list waits before it is logged as not sent: each
	// pod sees a changed ConfigMap in its own time, so a target just
	// added can reach the portal's copy of the policy first.
	referralGrace = 2 * time.Minute
)

type metrics struct {
	messages *prometheus.CounterVec
	smtpUp   prometheus.Gauge
	leader   prometheus.Gauge
	queued   prometheus.Gauge
}

func (n *Notifier) init() {
	n.once.Do(func() {
		var b [12]byte
		_, _ = rand.Read(b[:])
		n.token = hex.EncodeToString(b[:])
		n.metrics = &metrics{
			messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leap_notifier_messages_total", Help: "Attempts to send an email, by kind and result (sent, retrying, failed), and notifications with nowhere to go (not sent)."}, []string{"kind", "result"}),
			smtpUp:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "leap_notifier_smtp_up", Help: "1 when the last attempt to reach the mail server succeeded, 0 when it failed."}),
			leader:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "leap_notifier_leader", Help: "1 on the replica that holds the lease and sends."}),
			queued:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "leap_notifier_queued", Help: "Messages waiting to be sent or retried."}),
		}
		n.metrics.smtpUp.Set(1)
		if n.Now == nil {
			n.Now = time.Now
		}
		if n.Log == nil {
			n.Log = slog.New(slog.DiscardHandler)
		}
		if n.HTTP == nil {
			n.HTTP = &http.Client{Timeout: 30 * time.Second}
		}
	})
}

// Register adds the notifier's metrics to reg.
func (n *Notifier) Register(reg prometheus.Registerer) {
	n.init()
	reg.MustRegister(n.metrics.messages, n.metrics.smtpUp, n.metrics.leader, n.metrics.queued)
}

// Run steps every Tick until ctx ends. A failed step is logged and tried
// again at the next tick: nothing it left half done is lost, since every
// message is queued before it is sent.
func (n *Notifier) Run(ctx context.Context) {
	n.init()
	tick := n.Tick
	if tick <= 0 {
		tick = 5 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if err := n.Step(ctx); err != nil && ctx.Err() == nil {
			n.Log.Error("notifier step", "error", err)
		}
		select {
		case <-ctx.Done():
			n.release()
			return
		case <-t.C:
		}
	}
}

// renewScript extends the lease while it is the caller's.
var renewScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`)

// lead takes or renews the lease; true while this replica holds it.
func (n *Notifier) lead(ctx context.Context) (bool, error) {
	ttl := leaseTTL
	if n.leaseFor > 0 {
		ttl = n.leaseFor
	}
	ok, err := n.Redis.SetNX(ctx, LeaseKey, n.token, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("take the notifier lease: %w", err)
	}
	if !ok {
		r, err := renewScript.Run(ctx, n.Redis, []string{LeaseKey}, n.token, ttl.Milliseconds()).Int()
		if err != nil {
			return false, fmt.Errorf("renew the notifier lease: %w", err)
		}
		ok = r == 1
	}
	if ok {
		n.metrics.leader.Set(1)
	} else {
		n.metrics.leader.Set(0)
	}
	return ok, nil
}

func (n *Notifier) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.Redis.Eval(ctx, `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, []string{LeaseKey}, n.token).Err()
	n.metrics.leader.Set(0)
}

// Step does one round on the lease holder: plan the digests due, look for
// new records to announce, send what is due. Other replicas do nothing.
func (n *Notifier) Step(ctx context.Context) error {
	n.init()
	ok, err := n.lead(ctx)
	if err != nil || !ok {
		return err
	}
	now := n.Now()
	if err := n.Redis.SetNX(ctx, SinceKey, now.UTC().Format(time.RFC3339Nano), 0).Err(); err != nil {
		return fmt.Errorf("notifications start: %w", err)
	}
	var errs []error
	if err := n.planDigests(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if err := n.scanRecords(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.sendDue(ctx); err != nil {
		errs = append(errs, err)
	}
	if depth, err := n.Redis.ZCard(ctx, DueKey).Result(); err == nil {
		n.metrics.queued.Set(float64(depth))
	}
	return errors.Join(errs...)
}

// ---- digests ----

// planDigests plans the digests asked for by the LEAP team's button, then
// the scheduled one if it is due and not planned yet.
func (n *Notifier) planDigests(ctx context.Context, now time.Time) error {
	loc := n.Policy.Current().Calendar.Location()
	for {
		req, err := n.Redis.LIndex(ctx, TriggerKey, 0).Result()
		if errors.Is(err, redis.Nil) {
			break
		}
		if err != nil {
			return fmt.Errorf("read digest requests: %w", err)
		}
		// The request names its own slot, so a plan cut short by a
		// restart resumes under the same keys.
		if by, at, ok := parseDigestRequest(req); ok {
			slot := "now-" + strconv.FormatInt(at.UnixMilli(), 10)
			n.Log.Info("digests asked for", "by", by, "slot", slot)
			if err := n.planSlot(ctx, slot, at, loc); err != nil {
				return err
			}
		} else {
			n.Log.Warn("dropped a request for digests that is not one", "request", req)
		}
		if err := n.Redis.LRem(ctx, TriggerKey, 1, req).Err(); err != nil {
			return fmt.Errorf("clear digest request: %w", err)
		}
	}
	slot, ok := n.Settings.LastSlot(now, loc)
	if !ok || now.Sub(slot) > catchUp {
		return nil
	}
	id := slot.In(loc).Format("2006-01-02T15:04")
	done, err := n.Redis.SIsMember(ctx, SlotsKey, id).Result()
	if err != nil || done {
		return err
	}
	// No roster yet (a new install, make run loading its demo data): the
	// slot is left unplanned rather than spent on nobody, and goes out
	// when the students arrive, up to catchUp late.
	students, err := n.Redis.SCard(ctx, store.StudentsKey).Result()
	if err != nil || students == 0 {
		return err
	}
	return n.planSlot(ctx, id, slot, loc)
}

// episode is an alert of the scoring service's history endpoint.
type episode struct {
	Kind    string `json:"kind"`
	Since   string `json:"since"`
	Raised  string `json:"raised"`
	Days    int    `json:"days"`
	Ended   string `json:"ended"`
	Message string `json:"message"`
}

// DigestAlert is one line of a tutor's digest.
type DigestAlert struct {
	Student, StudentName string
	What                 string
	Since                string
	Days                 int
	Open                 bool
	Ended                string
	Link                 string
}

// planSlot queues the digest of slot for every tutor with something to
// say, then marks the slot planned.
func (n *Notifier) planSlot(ctx context.Context, slot string, at time.Time, loc *time.Location) error {
	since := at.AddDate(0, 0, -7)
	if v, err := n.Redis.Get(ctx, LastDigestKey).Result(); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.Before(at) {
			since = t
		}
	}
	sinceDay := calendar.DayOf(since.In(loc)).String()
	tutors, err := n.tutors(ctx)
	if err != nil {
		return err
	}
	for _, tutor := range slices.Sorted(mapKeys(tutors)) {
		staff, ok, err := store.GetStaff(ctx, n.Redis, tutor)
		if err != nil {
			return err
		}
		if !ok || staff.Email == "" {
			continue
		}
		var alerts []DigestAlert
		for _, st := range tutors[tutor] {
			eps, err := n.history(ctx, st.ID)
			if err != nil {
				return err
			}
			for _, ep := range eps {
				open := ep.Ended == ""
				if !open && ep.Raised < sinceDay {
					continue
				}
				what := ep.Message
				if what == "" {
					what = alertWhat(ep.Kind)
				}
				alerts = append(alerts, DigestAlert{Student: st.ID, StudentName: st.Name, What: strings.TrimSuffix(what, "."), Since: ep.Since, Days: ep.Days, Open: open, Ended: ep.Ended, Link: n.link("/students/" + url.PathEscape(st.ID))})
			}
		}
		if len(alerts) == 0 {
			continue // nothing to say: no digest
		}
		m := Message{ID: "digest/" + slot + "/" + tutor, Kind: KindDigest, To: staff.Email, Planned: n.Now()}
		m.Subject = fmt.Sprintf("%s LEAP: alerts among your tutees (%d)", n.Settings.UniversityName, len(alerts))
		data := map[string]any{"Subject": m.Subject, "Name": staff.Name, "University": n.Settings.UniversityName, "Since": sinceDay, "Alerts": alerts}
		if err := digestMail.render(&m, data); err != nil {
			return fmt.Errorf("render digest for %s: %w", tutor, err)
		}
		if _, err := Enqueue(ctx, n.Redis, m, n.Now()); err != nil {
			return err
		}
	}
	_, err = n.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, SlotsKey, slot)
		p.Set(ctx, LastDigestKey, at.UTC().Format(time.RFC3339Nano), 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark digest %s planned: %w", slot, err)
	}
	return nil
}

func alertWhat(kind string) string {
	switch kind {
	case "no_engagement":
		return "no engagement"
	case "very_low_week":
		return "very low engagement for a week"
	}
	return kind
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// tutors maps each tutor to their tutees' profiles, from the roster.
func (n *Notifier) tutors(ctx context.Context) (map[string][]store.Student, error) {
	ids, err := n.Redis.SMembers(ctx, store.StudentsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list students: %w", err)
	}
	slices.Sort(ids)
	out := map[string][]store.Student{}
	for _, id := range ids {
		st, ok, err := store.GetStudent(ctx, n.Redis, id)
		if err != nil {
			return nil, err
		}
		if ok && st.Tutor != "" {
			out[st.Tutor] = append(out[st.Tutor], st)
		}
	}
	return out, nil
}

// history is the student's alerts of the year from the scoring service.
func (n *Notifier) history(ctx context.Context, student string) ([]episode, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.ScoringURL+"/v1/students/"+url.PathEscape(student)+"/alerts/history", nil)
	if err != nil {
		return nil, err
	}
	resp, err := n.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alerts of %s: %w", student, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil // in the roster's index, not in the roster
	default:
		return nil, fmt.Errorf("alerts of %s: scoring answered %s", student, resp.Status)
	}
	var eps []episode
	if err := json.NewDecoder(resp.Body).Decode(&eps); err != nil {
		return nil, fmt.Errorf("alerts of %s: %w", student, err)
	}
	return eps, nil
}

func (n *Notifier) link(path string) string {
	return n.Settings.PortalURL + path
}

// ---- records: referrals and students' notices ----

// scanRecords looks at the students whose records changed since the last
// look, and queues a referral for each new referral to a listed service
// and a notice for each new note, objective or decision a student asked
// to hear about.
func (n *Notifier) scanRecords(ctx context.Context) error {
	sinceText, err := n.Redis.Get(ctx, SinceKey).Result()
	if err != nil {
		return fmt.Errorf("notifications start: %w", err)
	}
	since, err := time.Parse(time.RFC3339Nano, sinceText)
	if err != nil {
		return fmt.Errorf("notifications start %q: %w", sinceText, err)
	}
	ids, err := n.Redis.SMembers(ctx, store.StudentsKey).Result()
	if err != nil {
		return fmt.Errorf("list students: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	versions := make([]*redis.StringCmd, len(ids))
	_, err = n.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			versions[i] = p.Get(ctx, store.RecordsVersionKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read records versions: %w", err)
	}
	seen, err := n.Redis.HMGet(ctx, SeenKey, ids...).Result()
	if err != nil {
		return fmt.Errorf("read records seen: %w", err)
	}
	for i, id := range ids {
		v, _ := versions[i].Result()
		was, _ := seen[i].(string)
		if v == "" || v == was {
			continue
		}
		wait, err := n.studentRecords(ctx, id, since)
		if err != nil {
			return err
		}
		if wait {
			continue // looked at again at the next step
		}
		if err := n.Redis.HSet(ctx, SeenKey, id, v).Err(); err != nil {
			return fmt.Errorf("mark records seen: %w", err)
		}
	}
	return nil
}

// studentRecords queues what one student's new records call for; wait
// is true when a referral waits for its service to reach the policy (see
// referralGrace), so the student's records are looked at again.
func (n *Notifier) studentRecords(ctx context.Context, id string, since time.Time) (wait bool, err error) {
	st, ok, err := store.GetStudent(ctx, n.Redis, id)
	if err != nil || !ok {
		return false, err
	}
	prefs, err := GetPreferences(ctx, n.Redis, id)
	if err != nil {
		return false, err
	}
	records, err := store.ListRecords(ctx, n.Redis, id)
	if err != nil {
		return false, err
	}
	noticeFrom := prefs.NoticesSince
	if noticeFrom.Before(since) {
		noticeFrom = since
	}
	wantsNotices := prefs.Notices && st.Email != ""
	for _, r := range records {
		if r.At.Before(since) {
			continue
		}
		switch r.Kind {
		case store.KindReferral:
			w, err := n.referral(ctx, st, prefs, r)
			if err != nil {
				return false, err
			}
			wait = wait || w
		case store.KindNote, store.KindObjective:
			if wantsNotices && !r.At.Before(noticeFrom) {
				what := "Your tutor wrote a new note about you"
				if r.Kind == store.KindObjective {
					what = "Your tutor set you a new objective"
				}
				if err := n.notice(ctx, st, "notice/"+id+"/"+r.ID, what); err != nil {
					return false, err
				}
			}
		}
	}
	if !wantsNotices {
		return wait, nil
	}
	challenges, err := store.ListChallenges(ctx, n.Redis, id)
	if err != nil {
		return false, err
	}
	for _, c := range challenges {
		if c.State == store.ChallengeOpen || c.DecidedAt.Before(noticeFrom) {
			continue
		}
		what := "The LEAP team decided your challenge of " + c.Date
		if err := n.notice(ctx, st, "notice/"+id+"/decision/"+c.ID, what); err != nil {
			return false, err
		}
	}
	return wait, nil
}

// referral queues the mail of one referral to its service: who referred
// and when, and of the student only what they agreed to share. The
// service's address is the policy's (spec.notifications.referralTargets,
// which the portal's form offers). A service the policy does not list (a
// target removed since the referral was written) gets nothing, and the
// send log says so, once referralGrace has passed; until then wait is
// true.
func (n *Notifier) referral(ctx context.Context, st store.Student, prefs Preferences, r store.Record) (wait bool, err error) {
	id := "referral/" + st.ID + "/" + r.ID
	to, ok := n.Policy.Current().Doc.ReferralAddress(r.Service)
	if !ok {
		if n.Now().Sub(r.At) < referralGrace {
			return true, nil
		}
		why := fmt.Sprintf("%s is not a referral target in the LeapTerm (spec.notifications.referralTargets): the referral is in the portal only", r.Service)
		first, err := recordNotSent(ctx, n.Redis, id, KindReferral, n.Now(), why)
		if first {
			n.metrics.messages.WithLabelValues(KindReferral, StateNotSent).Inc()
			n.Log.Warn("referral not sent", "id", id, "service", r.Service)
		}
		return false, err
	}
	referrer, _, err := store.GetStaff(ctx, n.Redis, r.Author)
	if err != nil {
		return false, err
	}
	m := Message{ID: id, Kind: KindReferral, To: to, Planned: n.Now()}
	m.Subject = fmt.Sprintf("%s LEAP: a referral to %s", n.Settings.UniversityName, r.Service)
	data := map[string]any{
		"Subject": m.Subject, "Service": r.Service, "University": n.Settings.UniversityName,
		"ReferrerName": r.AuthorName, "ReferrerEmail": referrer.Email, "Date": r.At.In(n.Policy.Current().Calendar.Location()).Format("2 January 2006"),
		"Record": r.ID, "Shared": prefs.ShareContact || prefs.ShareCourse || (prefs.ShareReason && r.Text != ""),
		"Contact": prefs.ShareContact,
	}
	if prefs.ShareContact {
		data["Student"], data["StudentName"], data["StudentEmail"] = st.ID, st.Name, st.Email
	}
	if prefs.ShareCourse {
		data["Course"], data["Year"] = st.Course, st.Year
	}
	if prefs.ShareReason && r.Text != "" {
		data["Reason"] = r.Text
	}
	if err := referralMail.render(&m, data); err != nil {
		return false, fmt.Errorf("render referral %s: %w", r.ID, err)
	}
	_, err = Enqueue(ctx, n.Redis, m, n.Now())
	return false, err
}

// notice queues a student's notice: what happened and a link, never the
// text of what staff wrote.
func (n *Notifier) notice(ctx context.Context, st store.Student, id, what string) error {
	m := Message{ID: id, Kind: KindNotice, To: st.Email, Planned: n.Now()}
	m.Subject = fmt.Sprintf("%s LEAP: %s", n.Settings.UniversityName, strings.ToLower(what[:1])+what[1:])
	data := map[string]any{"Subject": m.Subject, "Name": st.Name, "University": n.Settings.UniversityName, "What": what, "Link": n.link("/me")}
	if err := noticeMail.render(&m, data); err != nil {
		return fmt.Errorf("render notice %s: %w", id, err)
	}
	_, err := Enqueue(ctx, n.Redis, m, n.Now())
	return err
}

// ---- sending ----

func (n *Notifier) backoff(attempt int) time.Duration {
	base, ceiling := n.RetryBase, n.RetryMax
	if base <= 0 {
		base = 30 * time.Second
	}
	if ceiling <= 0 {
		ceiling = 30 * time.Minute
	}
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// sendDue sends the messages due, one at a time. The first failure to
// reach the server ends the round: the rest wait for the next tick rather
// than each waiting out a timeout.
func (n *Notifier) sendDue(ctx context.Context) error {
	maxAttempts := n.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 12
	}
	for {
		now := n.Now()
		ids, err := dueIDs(ctx, n.Redis, now, 20)
		if err != nil {
			return fmt.Errorf("read the send queue: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		progressed := false
		for _, id := range ids {
			c, err := claim(ctx, n.Redis, id, n.Now(), n.Now().Add(claimHold))
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			progressed = true
			sendErr := n.Mailer.Send(ctx, c.Message)
			at := n.Now()
			n.smtpState(ctx, sendErr, at)
			if sendErr == nil {
				n.metrics.messages.WithLabelValues(c.Kind, "sent").Inc()
				if err := retry(ctx, func() error { return markSent(ctx, n.Redis, c, at) }); err != nil {
					// Accepted but not marked: the claim runs out and
					// the message goes again. Say so loudly.
					n.Log.Error("sent, but could not mark it sent", "id", c.ID, "error", err)
					return err
				}
				n.Log.Info("sent", "id", c.ID, "kind", c.Kind, "to", c.To, "attempt", c.attempt)
				continue
			}
			var next time.Time
			result := "failed"
			if c.attempt < maxAttempts {
				next, result = at.Add(n.backoff(c.attempt)), "retrying"
			}
			n.metrics.messages.WithLabelValues(c.Kind, result).Inc()
			n.Log.Warn("send failed", "id", c.ID, "kind", c.Kind, "to", c.To, "attempt", c.attempt, "result", result, "error", sendErr)
			if err := markFailed(ctx, n.Redis, c, at, next, sendErr); err != nil {
				return fmt.Errorf("record failed send of %s: %w", c.ID, err)
			}
			return nil
		}
		if !progressed {
			return nil
		}
	}
}

// retry runs fn up to 5 times, 200 ms apart: marking a message sent must
// outlast a brief Redis hiccup.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for range 5 {
		if err = fn(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

func (n *Notifier) smtpState(ctx context.Context, sendErr error, at time.Time) {
	ok, msg := "1", ""
	if sendErr != nil {
		ok, msg = "0", sendErr.Error()
		n.metrics.smtpUp.Set(0)
	} else {
		n.metrics.smtpUp.Set(1)
	}
	_ = n.Redis.HSet(ctx, SMTPStateKey, "ok", ok, "error", msg, "at", at.UTC().Format(time.RFC3339)).Err()
}
