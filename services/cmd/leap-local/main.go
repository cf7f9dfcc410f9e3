// Command leap-local runs the whole product on one machine (`make run`):
// the portal, ingestion and scoring on the ports the README gives (each with its
// /metrics on that port), an embedded Redis unless REDIS_URL is set, the
// policy from a LeapTerm file re-read when it changes, a term of demo
// data loaded through the ingestion API, and the notifier mailing to a
// local Mailpit whose inbox it serves.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/demo"
	"github.com/leap-dev/leap/services/ingestion"
	"github.com/leap-dev/leap/services/internal/app"
	"github.com/leap-dev/leap/services/internal/demoidp"
	"github.com/leap-dev/leap/services/portal"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
	"github.com/leap-dev/leap/services/telemetry"
)

func main() { app.Main("leap-local", run) }

func run(ctx context.Context) error {
	env := &config.Env{}
	termFile := env.String("LEAP_TERM_FILE", "")
	portalPort := env.Int("PORTAL_PORT", 8080, 1, 65535)
	ingestPort := env.Int("INGESTION_PORT", 8081, 1, 65535)
	scoringPort := env.Int("SCORING_PORT", 8082, 1, 65535)
	redisURL := env.String("REDIS_URL", "")
	students := env.Int("DEMO_STUDENTS", 300, 0, 100000)
	seed := env.Int("DEMO_SEED", 1, 0, 1<<30)
	local := env.Bool("PORTAL_LOCAL_ACCOUNTS", true)
	demoSSO := env.Bool("DEMO_SSO", true)
	ssoPort := env.Int("DEMO_SSO_PORT", 8083, 1, 65535)
	notify := env.Bool("NOTIFIER", true)
	smtpPort := env.Int("MAILPIT_SMTP_PORT", 1025, 1, 65535)
	inboxPort := env.Int("MAILPIT_PORT", 8025, 1, 65535)
	// LEAP_LOCAL_NOW starts make run's clock at another moment (a Saturday,
	// the day after a break): the demo data run up to it and every service
	// takes it for now, the clock moving on from there. Only this command
	// reads it; the deployed services always take the real time.
	startAt := env.String("LEAP_LOCAL_NOW", "")
	level := app.LogLevel(env)
	// Only this machine reaches the ports, so a proxy on it (a local
	// reverse proxy in front of the portal) is the one believed.
	proxies := app.TrustedProxies(env, server.LoopbackProxies)
	// Single sign-on is off unless PORTAL_OIDC_ISSUER names a provider;
	// the callback defaults to this machine's portal, and the key that
	// seals sign-in state cookies to one made for this run.
	sessionKey := randomToken()
	ssoEnv := &config.Env{Lookup: func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, ok
		}
		switch k {
		case "PORTAL_OIDC_REDIRECT_URL":
			return fmt.Sprintf("http://127.0.0.1:%d%s", portalPort, portal.CallbackPath), true
		case "SESSION_KEY":
			return sessionKey, true
		}
		return "", false
	}}
	sso := portal.OIDCFromEnv(ssoEnv)
	if err := errors.Join(env.Err(), ssoEnv.Err()); err != nil {
		return err
	}
	log := telemetry.Logger(os.Stderr, "leap-local", level)
	clock, err := localClock(startAt, time.Now())
	if err != nil {
		return err
	}

	if redisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded Redis: %w", err)
		}
		defer mr.Close()
		redisURL = "redis://" + mr.Addr()
	}
	rdb, err := store.Open(store.Options{URL: redisURL})
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := store.Ping(ctx, rdb); err != nil {
		return err
	}
	if termFile == "" {
		// The LEAP team's attendance switch writes the policy file: work on
		// a copy of the sample, so that make run never edits the repository.
		if termFile, err = copySample("config/samples/leap_v1alpha1_leapterm_typical.yaml"); err != nil {
			return err
		}
		defer os.Remove(termFile)
	}
	pol, err := policy.Open(termFile, log)
	if err != nil {
		return err
	}
	go pol.Watch(ctx, time.Second)

	token := randomToken()
	ready := func(ctx context.Context) error { return store.Ping(ctx, rdb) }
	ing := server.New(server.Options{Name: "ingestion", Logger: log, Ready: ready, TrustedProxies: proxies, Timeouts: server.BulkTimeouts})
	(&ingestion.Service{
		Redis: rdb, Policy: pol, Tokens: map[string]string{token: ingestion.AnySource},
		Backfill: map[string]bool{ingestion.AnySource: true}, MaxBodyBytes: 64 << 20, Now: clock, Log: log,
	}).Register(ing.Echo, ing.Registry)
	sco := server.New(server.Options{Name: "scoring", Logger: log, Ready: ready, TrustedProxies: proxies})
	(&scoring.Service{Redis: rdb, Policy: pol, Now: clock, CacheTTL: 10 * time.Minute, Log: log}).Register(sco.Echo, sco.Registry)

	// The demo people (no events yet): for the password form and the demo
	// provider alike.
	people := demo.Generate(uint64(seed), students, pol.Current().Calendar, time.Time{})
	users, logins, err := demoUsers(people)
	if err != nil {
		return err
	}
	// Without a provider of the university's, a demo one: the same people,
	// signing in as they would at a university.
	ssoURL := ""
	if sso == nil && demoSSO && students > 0 {
		if sso, err = startDemoProvider(ctx, ssoPort, portalPort, people); err != nil {
			return err
		}
		ssoURL = sso.Issuer
	}
	if !local {
		users, logins = nil, nil
	}
	por := server.New(server.Options{Name: "portal", Logger: log, Ready: ready, TrustedProxies: proxies})
	p, err := portal.New(portal.Config{
		Redis: rdb, Policy: pol, ScoringURL: fmt.Sprintf("http://127.0.0.1:%d", scoringPort), Users: users, OIDC: sso, Now: clock,
		Logger: log, PolicyWriter: portal.FileWriter{Path: termFile},
	})
	if err != nil {
		return err
	}
	p.Register(por.Echo)

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, s := range []struct {
		srv  *server.Server
		port int
	}{{ing, ingestPort}, {sco, scoringPort}, {por, portalPort}} {
		// In a cluster the metrics have a port of their own, so that a
		// NetworkPolicy can let Prometheus reach them and not scoring's API.
		// Here everything is on loopback with no policy to serve: each
		// service's metrics stay at its own URL, and make run opens no
		// ports beyond the three (9090-9093 are Prometheus's own).
		s.srv.Echo.GET(server.MetricsPath, echo.WrapHandler(s.srv.MetricsHandler()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.ListenAndServe(ctx, fmt.Sprintf("127.0.0.1:%d", s.port), "", 5*time.Second); err != nil {
				errs <- err
			}
		}()
	}
	ingestURL := fmt.Sprintf("http://127.0.0.1:%d", ingestPort)
	if err := waitReady(ctx, ingestURL); err != nil {
		return errors.Join(err, drain(errs))
	}

	inboxURL := ""
	if notify {
		n, err := startNotifier(ctx, log, rdb, pol, termFile, smtpPort, inboxPort, portalPort, scoringPort, clock)
		if err != nil {
			return fmt.Errorf("notifier: %w (NOTIFIER=false to run without email)", err)
		}
		inboxURL = n.InboxURL
	}

	l := pol.Current()
	if students > 0 {
		start := time.Now()
		data := demo.Generate(uint64(seed), students, l.Calendar, clock())
		if err := demo.Load(ctx, ingestURL, token, data); err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
		log.Info("demo data loaded", "students", len(data.Students), "events", len(data.Events), "took", time.Since(start).Round(time.Millisecond).String())
		printSummary(portalPort, ingestPort, scoringPort, token, redisURL, termFile, l, data, logins, ssoURL, inboxURL)
	} else {
		printSummary(portalPort, ingestPort, scoringPort, token, redisURL, termFile, l, demo.Data{}, nil, ssoURL, inboxURL)
	}

	<-ctx.Done()
	wg.Wait()
	return drain(errs)
}

// localClock is make run's clock: the real time, or, when startAt is set
// (RFC 3339, or "YYYY-MM-DD HH:MM" in the machine's time zone), a clock
// that starts there and moves on with the real one.
func localClock(startAt string, real time.Time) (func() time.Time, error) {
	if startAt == "" {
		return time.Now, nil
	}
	at, err := time.Parse(time.RFC3339, startAt)
	if err != nil {
		if at, err = time.ParseInLocation("2006-01-02 15:04", startAt, time.Local); err != nil {
			return nil, fmt.Errorf("LEAP_LOCAL_NOW=%q: want RFC 3339 (2026-10-24T11:00:00+01:00) or YYYY-MM-DD HH:MM", startAt)
		}
	}
	offset := at.Sub(real)
	return func() time.Time { return time.Now().Add(offset) }, nil
}

func drain(errs chan error) error {
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func waitReady(ctx context.Context, base string) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not become ready", base)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "demo-" + hex.EncodeToString(b)
}

func printSummary(portalPort, ingestPort, scoringPort int, token, redisURL, termFile string, l *policy.Loaded, d demo.Data, logins []string, ssoURL, inboxURL string) {
	fmt.Printf(`
LEAP is running on this machine.

  portal     http://127.0.0.1:%[8]d/
  ingestion  http://127.0.0.1:%[1]d   (POST /v1/events, /v1/roster/...; GET /readyz)
  scoring    http://127.0.0.1:%[2]d   (GET /v1/students/{id}/engagement)
  metrics    http://127.0.0.1:%[8]d/metrics, :%[1]d/metrics, :%[2]d/metrics   (in a cluster: port 9090 of each pod)
  redis      %[3]s
  policy     %[4]s (hash %[5]s; edit the file and every service takes it within a second)

Demo ingest token (any source, may backfill):
  %[6]s

Try:
  curl -s -H 'Authorization: Bearer %[6]s' -H 'Content-Type: application/json' \
    -d '[{"id":"try-1","student":"%[7]s","activity":"moodle_login","at":"'$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)'","source":"moodle"}]' \
    http://127.0.0.1:%[1]d/v1/events
  curl -s http://127.0.0.1:%[2]d/v1/students/%[7]s/engagement
`, ingestPort, scoringPort, redisURL, termFile, l.Hash, token, firstStudent(d), portalPort)
	if len(logins) > 0 {
		fmt.Printf("\nDemo logins (password %q for all; %d students, %d staff in the roster):\n", demoPassword, len(d.Students), len(d.Staff))
		for _, l := range logins {
			fmt.Println("  " + l)
		}
	}
	if ssoURL != "" {
		fmt.Printf("\nSingle sign-on: a demo university's provider at %s (DEMO_SSO=false to leave it out).\n"+
			"\"Sign in with your university account\" on the portal takes the same usernames and password.\n", ssoURL)
	}
	if inboxURL != "" {
		fmt.Printf("\nEmail: the notifier mails to a local Mailpit; read what it sent at\n  inbox      %s\n"+
			"Sign in as leap, open Email on the LEAP team's page and press \"Send digests now\": the tutors' digests arrive within seconds.\n", inboxURL)
	}
	fmt.Println("\nCtrl-C stops everything.")
}

func firstStudent(d demo.Data) string {
	if len(d.Students) == 0 {
		return "STUDENT"
	}
	return d.Students[0].ID
}

// demoPassword is the password of every demo account. It is printed: these
// accounts exist only in make run.
const demoPassword = "leap-demo"

// demoUsers makes a local account for every demo student and member of
// staff, and picks a few to print.
func demoUsers(data demo.Data) (map[string]portal.User, []string, error) {
	hash, err := portal.HashPassword(demoPassword)
	if err != nil {
		return nil, nil, err
	}
	users := map[string]portal.User{}
	for _, s := range data.Students {
		users[s.ID] = portal.User{Username: s.ID, PasswordHash: hash, Person: s.ID, Role: portal.RoleStudent}
	}
	for _, s := range data.Staff {
		users[s.ID] = portal.User{Username: s.ID, PasswordHash: hash, Person: s.ID, Role: s.Role}
	}
	// Accounts that fit together: the student's own tutor, their
	// department's staff, and the others beside them; then how to find the
	// rest.
	var logins []string
	for _, l := range demo.Logins(data) {
		logins = append(logins, l.ID+"  ("+l.Who+")")
	}
	if len(logins) > 0 {
		logins = append(logins, demo.IDForms())
	}
	return users, logins, nil
}

// copySample copies a LeapTerm file into a temporary one.
func copySample(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the sample policy (run make run from the repository's top folder, or set LEAP_TERM_FILE): %w", err)
	}
	f, err := os.CreateTemp("", "leap-term-*.yaml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// startDemoProvider serves an OpenID provider on loopback for make run,
// with an account for every demo student and member of staff (password
// demoPassword; staff in the "staff" group), and returns the portal's
// settings for it. It stops with ctx.
func startDemoProvider(ctx context.Context, port, portalPort int, data demo.Data) (*portal.OIDC, error) {
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	callback := fmt.Sprintf("http://127.0.0.1:%d%s", portalPort, portal.CallbackPath)
	var users []demoidp.User
	for _, s := range data.Students {
		users = append(users, demoidp.User{ID: "u-" + s.ID, Username: s.ID, Password: demoPassword, Email: s.Email, Groups: []string{"students"}})
	}
	for _, s := range data.Staff {
		users = append(users, demoidp.User{ID: "u-" + s.ID, Username: s.ID, Password: demoPassword, Email: s.Email, Groups: []string{"staff"}})
	}
	secret := randomToken()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("demo sign-in provider: %w (DEMO_SSO_PORT to move it, DEMO_SSO=false to leave it out)", err)
	}
	srv := &http.Server{Handler: demoidp.New(issuer, users, []demoidp.Client{{ID: "leap-portal", Secret: secret, RedirectURI: callback,
		// The portal's sign-out sends the browser to the provider and asks
		// to come back to its sign-in page.
		PostLogoutRedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/login", portalPort)}}}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return &portal.OIDC{
		Issuer: issuer, ClientID: "leap-portal", ClientSecret: secret, RedirectURL: callback,
		PersonClaim: portal.DefaultPersonClaim, StaffClaim: portal.DefaultStaffClaim, StaffValues: portal.DefaultStaffValues, Scopes: portal.DefaultScopes,
		SessionKey: []byte(randomToken()),
	}, nil
}
