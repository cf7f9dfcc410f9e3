package notifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/mailpit"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// start is a Tuesday of the typical sample's autumn term (teaching from 5
// October): a student with no activity since then has an open alert.
var start = time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC)

// The roster: tutor t1 has a silent tutee (Ada) and an active one (Amy),
// t2 a silent one (Bob), t3 an active one (Cat); Dan is silent with no
// tutor.
var (
	staff = []store.Staff{
		{ID: "t1", Name: "Tess Tutor", Email: "tess@uni.test", Department: "Maths", Role: "tutor"},
		{ID: "t2", Name: "Theo Tutor", Email: "theo@uni.test", Department: "Maths", Role: "tutor"},
		{ID: "t3", Name: "Tara Tutor", Email: "tara@uni.test", Department: "Maths", Role: "tutor"},
	}
	students = []store.Student{
		{ID: "u-ada", Name: "Ada Silent", Email: "ada@student.test", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "u-amy", Name: "Amy Active", Email: "amy@student.test", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "u-bob", Name: "Bob Silent", Email: "bob@student.test", Department: "Maths", Course: "BSc Maths", Year: 2, Level: "ug", Mode: "FT"},
		{ID: "u-cat", Name: "Cat Active", Email: "cat@student.test", Department: "Maths", Course: "BSc Maths", Year: 2, Level: "ug", Mode: "FT"},
		{ID: "u-dan", Name: "Dan Silent", Email: "dan@student.test", Department: "Maths", Course: "BSc Maths", Year: 3, Level: "ug", Mode: "FT"},
	}
	tutoring = []store.Tutoring{{Staff: "t1", Student: "u-ada"}, {Staff: "t1", Student: "u-amy"}, {Staff: "t2", Student: "u-bob"}, {Staff: "t3", Student: "u-cat"}}
	active   = []string{"u-amy", "u-cat"}
	// referralTargets are the LeapTerm's services and their addresses.
	referralTargets = []v1alpha1.ReferralTarget{{Service: "wellbeing", Email: "wellbeing@uni.test"}, {Service: "skills and careers", Email: "careers@uni.test"}}
)

// clock is a settable time shared by the scoring service and notifiers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	t        *testing.T
	rdb      redis.UniversalClient
	mail     *mailpit.Server
	clock    *clock
	pol      *policy.Source
	settings *Settings
	scoring  string
	tlsConf  *tls.Config
}

const (
	smtpUser     = "leap"
	smtpPassword = "correct horse battery staple"
)

// newFixture runs Redis with the roster and a term of activity, a scoring
// service, and Mailpit offering STARTTLS with a certificate of its own and
// requiring SMTP authentication.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, clock: &clock{t: start}}
	f.rdb = redistest.Start(t).Client(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := policy.ParseFile("typical", b)
	if err != nil {
		t.Fatal(err)
	}
	// The notifier and the portal read the referral targets from the
	// policy (the LeapTerm's spec.notifications); the fixture's are these.
	l.Doc.Referrals = &policy.Referrals{ReferralTargets: referralTargets}
	f.pol = policy.Static(l)
	if err := store.PutStaff(ctx, f.rdb, staff); err != nil {
		t.Fatal(err)
	}
	if err := store.PutStudents(ctx, f.rdb, students); err != nil {
		t.Fatal(err)
	}
	if err := store.PutTutors(ctx, f.rdb, tutoring); err != nil {
		t.Fatal(err)
	}
	f.recordActivity(l.Calendar)

	svc := &scoring.Service{Redis: f.rdb, Policy: f.pol, Now: f.clock.Now, CacheTTL: time.Minute}
	srv := server.New(server.Options{Name: "scoring", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(srv.Echo, srv.Registry)
	ts := httptest.NewServer(srv.Echo)
	t.Cleanup(ts.Close)
	f.scoring = ts.URL

	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	f.tlsConf = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	hash, err := bcrypt.GenerateFromPassword([]byte(smtpPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "smtp-users")
	if err := os.WriteFile(auth, []byte(smtpUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.mail = startMailpit(t, mailpit.Options{Dir: dir, TLSCert: cert, TLSKey: key, AuthFile: auth})

	f.settings, err = ParseSettings(fmt.Appendf(nil, `{
		"enabled": true, "universityName": "University of Testing", "portalURL": "https://leap.uni.test",
		"smtp": {"host": "127.0.0.1", "port": %s, "from": "leap@uni.test", "tls": "StartTLS", "credentialsSecret": "smtp"},
		"digest": {"days": ["Monday", "Thursday"], "time": "08:00"},
		"referralTargets": %s
	}`, port(t, f.mail.SMTP), mustJSON(t, referralTargets)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withTargets is the fixture's policy with other referral targets, as
// after the LEAP team changed them.
func (f *fixture) withTargets(targets ...v1alpha1.ReferralTarget) *policy.Source {
	l := *f.pol.Current()
	l.Doc.Referrals = &policy.Referrals{ReferralTargets: targets}
	return policy.Static(&l)
}

func startMailpit(t *testing.T, o mailpit.Options) *mailpit.Server {
	t.Helper()
	bin, err := mailpit.Binary()
	if err != nil {
		t.Fatal(err)
	}
	o.SMTP, o.HTTP = freeAddr(t), freeAddr(t)
	s, err := mailpit.Start(bin, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// recordActivity gives the active students a full day of activity on
// every day of the term so far: a high band, no alert.
func (f *fixture) recordActivity(cal *calendar.Calendar) {
	var events []store.Event
	for d := cal.FirstDay(); !cal.Today(start).Before(d); d = d.AddDays(1) {
		for _, s := range active {
			for _, a := range []v1alpha1.Activity{"tap_in", "faser_upload", "faser_view", "listen_again", "pc_lab_login", "moodle_course", "moodle_login", "moodle_mobile"} {
				i, _ := v1alpha1.ActivityIndex(string(a))
				for k := range 4 {
					events = append(events, store.Event{ID: fmt.Sprintf("%s-%s-%s-%d", s, d, a, k), Student: s, Activity: i, Day: d})
				}
			}
		}
	}
	rec := store.Recorder{Client: f.rdb, Retention: 400 * 24 * time.Hour, Now: f.clock.Now}
	if _, err := rec.Record(context.Background(), events); err != nil {
		f.t.Fatal(err)
	}
}

// notifier is a replica of the notifier against the fixture.
func (f *fixture) notifier() *Notifier {
	return &Notifier{
		Redis: f.rdb, Settings: f.settings, Policy: f.pol, ScoringURL: f.scoring, Now: f.clock.Now,
		Tick: 20 * time.Millisecond, RetryBase: time.Second, RetryMax: 10 * time.Second,
		Mailer: &SMTPMailer{Host: "127.0.0.1", Port: int(f.settings.SMTP.Port), From: f.settings.SMTP.From, FromName: "University of Testing LEAP",
			TLS: v1alpha1.SMTPStartTLS, Username: smtpUser, Password: smtpPassword, TLSConfig: f.tlsConf, Timeout: 5 * time.Second},
	}
}

func (f *fixture) step(n *Notifier) {
	f.t.Helper()
	if err := n.Step(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// received is every message Mailpit holds, in full, by recipient.
func (f *fixture) received() map[string][]mailpit.Message {
	f.t.Helper()
	ctx := context.Background()
	list, err := f.mail.Messages(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]mailpit.Message{}
	for _, s := range list {
		m, err := f.mail.Message(ctx, s.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, to := range m.To {
			out[to.Address] = append(out[to.Address], m)
		}
	}
	return out
}

func recipients(got map[string][]mailpit.Message) []string {
	var out []string
	for to, ms := range got {
		for range ms {
			out = append(out, to)
		}
	}
	slices.Sort(out)
	return out
}

func contains(m mailpit.Message, s string) bool {
	return strings.Contains(m.Text, s) || strings.Contains(m.HTML, s) || strings.Contains(m.Subject, s)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}
