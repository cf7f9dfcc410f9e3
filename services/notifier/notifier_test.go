package notifier

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/mailpit"
	"github.com/leap-dev/leap/services/store"
)

// A tutor's digest lists exactly the open alerts of their own tutees, as
// text and HTML with links to each student's page; a tutor whose tutees
// are all active gets nothing.
func TestDigestHasExactlyTheTutorsTuteesAlerts(t *testing.T) {
	f := newFixture(t)
	n := f.notifier()
	if err := RequestDigests(context.Background(), f.rdb, "leap-team", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.step(n)

	got := f.received()
	if want := []string{"tess@uni.test", "theo@uni.test"}; !slices.Equal(recipients(got), want) {
		t.Fatalf("digests to %v, want one each to %v", recipients(got), want)
	}
	tess, theo := got["tess@uni.test"][0], got["theo@uni.test"][0]
	for _, part := range []string{tess.Text, tess.HTML} {
		if !strings.Contains(part, "Ada Silent") || !strings.Contains(part, "https://leap.uni.test/students/u-ada") {
			t.Errorf("Tess's digest does not list her silent tutee Ada with a link:\n%s", part)
		}
		for _, other := range []string{"Amy Active", "Bob Silent", "Cat Active", "Dan Silent"} {
			if strings.Contains(part, other) {
				t.Errorf("Tess's digest lists %s, who has no alert or is not her tutee:\n%s", other, part)
			}
		}
	}
	if !contains(theo, "Bob Silent") || contains(theo, "Ada Silent") || contains(theo, "Dan Silent") {
		t.Errorf("Theo's digest should list Bob alone:\n%s", theo.Text)
	}
	if !strings.Contains(tess.Subject, "University of Testing") || !strings.Contains(tess.Text, "University of Testing LEAP") {
		t.Errorf("digest not in the university's name: %q\n%s", tess.Subject, tess.Text)
	}
	if tess.From == nil || tess.From.Address != "leap@uni.test" {
		t.Errorf("from %v, want leap@uni.test", tess.From)
	}

	// Planned once: stepping again sends nothing more.
	f.step(n)
	if got := recipients(f.received()); len(got) != 2 {
		t.Errorf("after a second step: %v, want the two digests once each", got)
	}
}

// No digest at all when no tutee has an alert; the digest is still marked
// planned, so it is not attempted again.
func TestNoDigestWhenNothingToSay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Everyone active: give the silent students a login on every day.
	active = append(active, "u-ada", "u-bob", "u-dan")
	defer func() { active = active[:2] }()
	f.recordActivity(f.pol.Current().Calendar)
	n := f.notifier()
	if err := RequestDigests(ctx, f.rdb, "leap-team", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.step(n)
	if got := recipients(f.received()); len(got) != 0 {
		t.Errorf("digests sent with no alert to tell of: %v", got)
	}
	if left, _ := f.rdb.LLen(ctx, TriggerKey).Result(); left != 0 {
		t.Errorf("%d digest requests left undone", left)
	}
}

// The scheduled digest goes out at its time on its days, in the LeapTerm's
// timezone (08:00 London is 07:00 UTC in October), once.
func TestScheduledDigest(t *testing.T) {
	f := newFixture(t)
	n := f.notifier()
	f.clock.Set(time.Date(2026, 10, 19, 6, 59, 0, 0, time.UTC)) // Monday 07:59 in London
	f.step(n)
	if got := recipients(f.received()); len(got) != 0 {
		t.Fatalf("digests before their time: %v", got)
	}
	f.clock.Add(2 * time.Minute) // 08:01
	f.step(n)
	f.clock.Add(time.Hour)
	f.step(n)
	if got, want := recipients(f.received()), []string{"tess@uni.test", "theo@uni.test"}; !slices.Equal(got, want) {
		t.Fatalf("Monday's digests: %v, want %v", got, want)
	}
	f.clock.Add(24 * time.Hour) // Tuesday: not a digest day
	f.step(n)
	if got := recipients(f.received()); len(got) != 2 {
		t.Errorf("a digest on Tuesday: %v", got)
	}
}

// A digest falls due before the roster has arrived (a new install, make
// run loading its demo data): it is not spent on an empty roster, and goes
// out once the students are there.
func TestScheduledDigestWaitsForTheRoster(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.rdb.Del(ctx, store.StudentsKey).Err(); err != nil {
		t.Fatal(err)
	}
	n := f.notifier()
	f.clock.Set(time.Date(2026, 10, 19, 7, 1, 0, 0, time.UTC)) // Monday 08:01 London
	f.step(n)
	if got := recipients(f.received()); len(got) != 0 {
		t.Fatalf("digests with no roster: %v", got)
	}
	if err := store.PutStudents(ctx, f.rdb, students); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	f.step(n)
	if got, want := recipients(f.received()), []string{"tess@uni.test", "theo@uni.test"}; !slices.Equal(got, want) {
		t.Errorf("Monday's digests once the roster arrived: %v, want %v", got, want)
	}
}

// A referral goes to the service's address with only what the student
// agreed to share; a service with no address gets nothing.
func TestReferralReachesTheService(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := f.notifier()
	f.step(n) // notifications start now
	f.clock.Add(time.Minute)
	if err := SetPreferences(ctx, f.rdb, "u-amy", Preferences{ShareContact: true}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	refer := func(student, service, text string) {
		if _, err := store.AddRecord(ctx, f.rdb, student, store.Record{Author: "t1", AuthorName: "Tess Tutor", Kind: store.KindReferral, Service: service, Text: text, At: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	refer("u-amy", "wellbeing", "worried about rent")
	refer("u-bob", "skills and careers", "wants a placement")
	refer("u-ada", "library", "")
	f.step(n)

	got := f.received()
	if want := []string{"careers@uni.test", "wellbeing@uni.test"}; !slices.Equal(recipients(got), want) {
		t.Fatalf("referrals to %v, want %v", recipients(got), want)
	}
	wb := got["wellbeing@uni.test"][0]
	if !contains(wb, "Amy Active") || !contains(wb, "amy@student.test") || !contains(wb, "Tess Tutor") {
		t.Errorf("wellbeing's referral lacks the contact Amy agreed to share, or the referrer:\n%s", wb.Text)
	}
	if contains(wb, "worried about rent") || contains(wb, "BSc Maths") {
		t.Errorf("wellbeing's referral tells what Amy did not agree to share:\n%s", wb.Text)
	}
	careers := got["careers@uni.test"][0]
	for _, private := range []string{"Bob Silent", "u-bob", "bob@student.test", "wants a placement"} {
		if contains(careers, private) {
			t.Errorf("careers' referral names %q; Bob agreed to share nothing:\n%s", private, careers.Text)
		}
	}
	if !contains(careers, "Tess Tutor") || !contains(careers, "tess@uni.test") {
		t.Errorf("careers' referral does not say whom to contact:\n%s", careers.Text)
	}
}

// A referral to a service that is not, or no longer, a referral target
// (the LEAP team removed it after the referral was written) is mailed to
// nobody, and the send log says so once, with the reason; one to a target
// just added waits for this replica's policy to catch up, then goes.
func TestReferralToARemovedTarget(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := f.notifier()
	reg := prometheus.NewRegistry()
	n.Register(reg)
	f.step(n) // notifications start now
	f.clock.Add(time.Minute)
	refer := func(student, service string) {
		if _, err := store.AddRecord(ctx, f.rdb, student, store.Record{Author: "t1", AuthorName: "Tess Tutor", Kind: store.KindReferral, Service: service, At: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	refer("u-amy", "wellbeing")
	refer("u-bob", "astrology")
	n.Policy = f.withTargets(referralTargets[1]) // wellbeing removed
	f.step(n)
	f.clock.Add(referralGrace + time.Second)
	f.step(n)
	if got := recipients(f.received()); len(got) != 0 {
		t.Fatalf("referrals to services that are no targets were mailed to %v", got)
	}
	log, err := RecentLog(ctx, f.rdb, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 {
		t.Fatalf("send log %+v, want one entry for each referral not sent", log)
	}
	for _, e := range log {
		service := map[string]string{"u-amy": "wellbeing", "u-bob": "astrology"}[strings.Split(e.ID, "/")[1]]
		if e.Kind != KindReferral || e.Result != StateNotSent || !strings.Contains(e.Error, service+" is not a referral target") ||
			!strings.Contains(e.Error, "spec.notifications.referralTargets") {
			t.Errorf("log entry %+v, want a referral not sent, saying %s is not a referral target", e, service)
		}
	}
	if got := testutil.ToFloat64(n.metrics.messages.WithLabelValues(KindReferral, StateNotSent)); got != 2 {
		t.Errorf("metric of referrals not sent: %v, want 2", got)
	}

	// A later change to Amy's record looks at her records again: the
	// referral is not logged twice.
	if _, err := store.AddRecord(ctx, f.rdb, "u-amy", store.Record{Author: "t1", AuthorName: "Tess Tutor", Kind: store.KindNote, Text: "n", At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.step(n)
	if log, _ := RecentLog(ctx, f.rdb, 10); len(log) != 2 {
		t.Errorf("send log after another look: %+v, want the two entries once", log)
	}

	// A target added in the portal's policy before this replica's: the
	// referral waits, and goes once the policy here has it.
	f.clock.Add(time.Minute)
	refer("u-cat", "chaplaincy")
	f.step(n)
	f.clock.Add(referralGrace / 2)
	chaplaincy := v1alpha1.ReferralTarget{Service: "chaplaincy", Email: "chaplain@uni.test"}
	n.Policy = f.withTargets(referralTargets[1], chaplaincy)
	f.step(n)
	f.clock.Add(referralGrace)
	f.step(n)
	if got, want := recipients(f.received()), []string{"chaplain@uni.test"}; !slices.Equal(got, want) {
		t.Errorf("after chaplaincy reached the policy: mail to %v, want %v once", got, want)
	}
}

// A student who asked for notices hears of a new note and of a decision
// on their challenge, with a link and never the note's text; one who did
// not ask hears nothing; a note written before notifications started is
// never announced.
func TestStudentNoticeWithoutTheText(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	note := func(student, text string) {
		if _, err := store.AddRecord(ctx, f.rdb, student, store.Record{Author: "t1", AuthorName: "Tess Tutor", Kind: store.KindNote, Text: text, At: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := SetPreferences(ctx, f.rdb, "u-amy", Preferences{Notices: true}, f.clock.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	note("u-amy", "an old note from before notifications")
	n := f.notifier()
	f.clock.Add(time.Second)
	f.step(n)
	if got := recipients(f.received()); len(got) != 0 {
		t.Fatalf("records from before notifications started were announced: %v", got)
	}

	f.clock.Add(time.Minute)
	note("u-amy", "Private: discussed family circumstances")
	note("u-bob", "Bob's note")
	ch, err := store.AddChallenge(ctx, f.rdb, "u-amy", store.Challenge{Date: "2026-10-12", Activity: "tap_in", Reason: "I was there", At: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.DecideChallenge(ctx, f.rdb, "u-amy", ch.ID, store.ChallengeAccepted, "reader fixed"); err != nil {
		t.Fatal(err)
	}
	f.step(n)

	got := f.received()
	if want := []string{"amy@student.test", "amy@student.test"}; !slices.Equal(recipients(got), want) {
		t.Fatalf("notices to %v, want two to Amy (the note, the decision) and none to Bob", recipients(got))
	}
	var sawNote, sawDecision bool
	for _, m := range got["amy@student.test"] {
		if contains(m, "family circumstances") || contains(m, "old note") || contains(m, "reader fixed") {
			t.Errorf("a notice carries what staff wrote:\n%s", m.Text)
		}
		if !contains(m, "https://leap.uni.test/me") {
			t.Errorf("a notice without a link to the student's page:\n%s", m.Text)
		}
		sawNote = sawNote || contains(m, "new note")
		sawDecision = sawDecision || contains(m, "decided your challenge of 2026-10-12")
	}
	if !sawNote || !sawDecision {
		t.Errorf("notices: note %v, decision %v; want both", sawNote, sawDecision)
	}
}

// The mail server down: the attempt fails, is logged and retried with
// backoff; once it is back every message is delivered once.
func TestServerDownThenUpDeliversEachOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := f.notifier()
	f.mail.Stop()
	if err := RequestDigests(ctx, f.rdb, "leap-team", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// A round ends at the first failure; the next round tries the next
	// message, and none is tried again before its backoff.
	f.step(n)
	f.step(n)
	f.step(n)
	log, err := RecentLog(ctx, f.rdb, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].ID == log[1].ID {
		t.Fatalf("log after failed sends: %+v, want one entry for each of the two digests", log)
	}
	for _, e := range log {
		if e.Result != "retrying" || e.Attempt != "1" || !strings.Contains(e.Error, "connect") {
			t.Errorf("log entry %+v, want a first attempt, retrying, with the connection error", e)
		}
	}
	if state, _ := f.rdb.HGet(ctx, SMTPStateKey, "ok").Result(); state != "0" {
		t.Errorf("SMTP state %q after a failure, want 0", state)
	}
	if up, retrying := testutil.ToFloat64(n.metrics.smtpUp), testutil.ToFloat64(n.metrics.messages.WithLabelValues(KindDigest, "retrying")); up != 0 || retrying != 2 {
		t.Errorf("metrics after failures: smtp up %v, digests retrying %v; want 0 and 2", up, retrying)
	}

	if err := f.mail.Restart(); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Second) // past the first backoff (1 s)
	f.step(n)
	f.clock.Add(time.Hour)
	f.step(n)
	if got, want := recipients(f.received()), []string{"tess@uni.test", "theo@uni.test"}; !slices.Equal(got, want) {
		t.Fatalf("after recovery: %v, want %v once each", got, want)
	}
	log, _ = RecentLog(ctx, f.rdb, 10)
	var sent int
	for _, e := range log {
		if e.Result == "sent" {
			sent++
		}
	}
	if sent != 2 {
		t.Errorf("log: %+v, want two sent entries", log)
	}
	if up := testutil.ToFloat64(n.metrics.smtpUp); up != 1 {
		t.Errorf("smtp up %v after recovery, want 1", up)
	}
}

// crashingMailer sends through its inner mailer, and after sends messages
// "crashes": the next send cancels the replica's context and fails.
type crashingMailer struct {
	inner  Mailer
	sends  int
	cancel context.CancelFunc
}

func (c *crashingMailer) Send(ctx context.Context, m Message) error {
	if c.sends == 0 {
		c.cancel()
		return errors.New("process killed")
	}
	c.sends--
	return c.inner.Send(ctx, m)
}

// A replica killed mid-digest: the one that takes over sends each
// remaining message once and none of those already sent.
func TestRestartMidDigestSendsTheRestOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := RequestDigests(ctx, f.rdb, "leap-team", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	first := f.notifier()
	first.leaseFor = 300 * time.Millisecond
	crashCtx, cancel := context.WithCancel(ctx)
	first.Mailer = &crashingMailer{inner: first.Mailer, sends: 1, cancel: cancel}
	_ = first.Step(crashCtx) // dies after the first digest
	if got := recipients(f.received()); len(got) != 1 {
		t.Fatalf("before the crash: %v, want one digest", got)
	}

	second := f.notifier()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.clock.Add(3 * time.Minute) // past the dead replica's hold on its message
		f.step(second)
		if len(recipients(f.received())) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the dead replica's lease runs out
	}
	f.step(second)
	if got, want := recipients(f.received()), []string{"tess@uni.test", "theo@uni.test"}; !slices.Equal(got, want) {
		t.Errorf("after the restart: %v, want %v once each", got, want)
	}
}

// Two replicas running side by side send each digest once.
func TestTwoReplicasSendEachDigestOnce(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	a, b := f.notifier(), f.notifier()
	var wg sync.WaitGroup
	for _, n := range []*Notifier{a, b} {
		wg.Go(func() { n.Run(ctx) })
	}
	for range 3 {
		if err := RequestDigests(ctx, f.rdb, "leap-team", f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Minute)
		time.Sleep(50 * time.Millisecond)
	}
	f.clock.Set(time.Date(2026, 10, 22, 7, 30, 0, 0, time.UTC)) // Thursday 08:30 London: the scheduled one too
	deadline := time.Now().Add(10 * time.Second)
	for len(recipients(f.received())) < 8 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // room for a double to arrive
	// One of them decides and sends; the other stands by.
	if la, lb := testutil.ToFloat64(a.metrics.leader), testutil.ToFloat64(b.metrics.leader); la+lb != 1 {
		t.Errorf("leaders: %v and %v, want exactly one", la, lb)
	}
	cancel()
	wg.Wait()
	// Three requests and one scheduled slot: four digests for each tutor
	// with an alerted tutee.
	got := f.received()
	for _, to := range []string{"tess@uni.test", "theo@uni.test"} {
		if len(got[to]) != 4 {
			t.Errorf("%s received %d digests, want 4 (one per slot)", to, len(got[to]))
		}
		ids := map[string]bool{}
		for _, m := range got[to] {
			if ids[m.MessageID] {
				t.Errorf("%s received %s twice", to, m.MessageID)
			}
			ids[m.MessageID] = true
		}
	}
}

// SMTP authentication is required by the test server: a wrong password
// fails, and the failure is what the log says.
func TestWrongPasswordIsRefused(t *testing.T) {
	f := newFixture(t)
	n := f.notifier()
	n.Mailer.(*SMTPMailer).Password = "wrong"
	err := n.Mailer.Send(context.Background(), Message{ID: "test/1", Kind: KindNotice, To: "x@uni.test", Subject: "s", Text: "t", HTML: "<p>t</p>"})
	if err == nil {
		t.Fatal("a wrong SMTP password was accepted")
	}
	if got := recipients(f.received()); len(got) != 0 {
		t.Errorf("delivered with a wrong password: %v", got)
	}
}

// Implicit TLS (port 465 style) reaches a server that speaks TLS at once.
func TestImplicitTLS(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	mp := startMailpit(t, mailpit.Options{Dir: dir, TLSCert: cert, TLSKey: key, ImplicitTLS: true})
	m := &SMTPMailer{Host: "127.0.0.1", Port: atoi(t, port(t, mp.SMTP)), From: "leap@uni.test", FromName: "LEAP", TLS: "ImplicitTLS",
		Username: "any", Password: "any", TLSConfig: f.tlsConf.Clone(), Timeout: 5 * time.Second}
	m.TLSConfig.RootCAs = pool
	if err := m.Send(context.Background(), Message{ID: "test/tls", To: "x@uni.test", Subject: "over TLS", Text: "t", HTML: "<p>t</p>"}); err != nil {
		t.Fatal(err)
	}
	list, err := mp.Messages(context.Background())
	if err != nil || len(list) != 1 || list[0].Subject != "over TLS" {
		t.Errorf("received %+v (%v), want the one message", list, err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// A replica that dies while planning a digest leaves the slot unmarked;
// the next plan of the same slot queues only what was not queued, and
// what was sent is not sent again.
func TestReplanningASlotSendsNothingTwice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := f.notifier()
	f.clock.Set(time.Date(2026, 10, 19, 7, 1, 0, 0, time.UTC)) // Monday 08:01 London
	f.step(n)
	if got := recipients(f.received()); len(got) != 2 {
		t.Fatalf("Monday's digests: %v, want two", got)
	}
	// As if the replica died before marking the slot planned.
	if err := f.rdb.SRem(ctx, SlotsKey, "2026-10-19T08:00").Err(); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	f.step(n)
	f.step(n)
	if got, want := recipients(f.received()), []string{"tess@uni.test", "theo@uni.test"}; !slices.Equal(got, want) {
		t.Errorf("after planning the slot again: %v, want %v once each", got, want)
	}
}

// Credentials mounted from the Secret are read at each send: a changed
// password takes effect without a restart.
func TestCredentialsFromTheMountedSecret(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("username", smtpUser+"\n")
	write("password", smtpPassword+"\n")
	m := f.notifier().Mailer.(*SMTPMailer)
	m.Username, m.Password, m.CredentialsDir = "", "", dir
	msg := Message{ID: "test/creds", To: "x@uni.test", Subject: "s", Text: "t", HTML: "<p>t</p>"}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("with the mounted credentials: %v", err)
	}
	write("password", "rotated elsewhere\n")
	if err := m.Send(context.Background(), msg); err == nil {
		t.Error("the old password was kept after the Secret changed")
	}
}
