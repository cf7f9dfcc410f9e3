package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/mailpit"
	"github.com/leap-dev/leap/services/notifier"
)

// localNotifier is make run's email: Mailpit as the mail server, the
// notifier sending to it, and an inbox page to read what was sent.
type localNotifier struct {
	InboxURL string
	mail     *mailpit.Server
}

// startNotifier runs Mailpit (SMTP on smtpPort, its API on a port of its
// own) and the notifier, whose settings are the LeapTerm file's
// spec.notifications with the mail server replaced by Mailpit (make run
// never mails anyone) and a demo university's name when it has none. The inbox
// page on inboxPort lists what Mailpit received: Mailpit's Go module has
// no web UI of its own (its JavaScript is built with npm), so the page
// reads its API, which it also serves under /api/.
func startNotifier(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, pol *policy.Source, termFile string,
	smtpPort, inboxPort, portalPort, scoringPort int, clock func() time.Time,
) (*localNotifier, error) {
	bin, err := mailpit.Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "leap-mailpit-")
	if err != nil {
		return nil, err
	}
	api, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	mp, err := mailpit.Start(bin, mailpit.Options{SMTP: fmt.Sprintf("127.0.0.1:%d", smtpPort), HTTP: api, Dir: dir}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w (MAILPIT_SMTP_PORT to move it)", err)
	}
	n, err := localSettings(termFile, smtpPort, portalPort)
	if err != nil {
		mp.Stop()
		return nil, err
	}
	settings, err := notifier.ParseSettings(n)
	if err != nil {
		mp.Stop()
		return nil, err
	}
	nt := &notifier.Notifier{
		Redis: rdb, Settings: settings, Policy: pol, ScoringURL: fmt.Sprintf("http://127.0.0.1:%d", scoringPort),
		Now: clock, Log: log, Tick: 2 * time.Second, RetryBase: 5 * time.Second,
		Mailer: &notifier.SMTPMailer{Host: "127.0.0.1", Port: smtpPort, From: settings.SMTP.From, FromName: settings.UniversityName + " LEAP", TLS: v1alpha1.SMTPNone, Timeout: 10 * time.Second},
	}
	go nt.Run(ctx)

	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", inboxPort))
	if err != nil {
		mp.Stop()
		return nil, fmt.Errorf("inbox page: %w (MAILPIT_PORT to move it)", err)
	}
	srv := &http.Server{Handler: inbox(mp), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
		mp.Stop()
		_ = os.RemoveAll(dir)
	}()
	return &localNotifier{InboxURL: fmt.Sprintf("http://127.0.0.1:%d/", inboxPort), mail: mp}, nil
}

// localSettings is spec.notifications for make run as JSON.
func localSettings(termFile string, smtpPort, portalPort int) ([]byte, error) {
	b, err := os.ReadFile(termFile)
	if err != nil {
		return nil, err
	}
	var term v1alpha1.LeapTerm
	if err := yaml.Unmarshal(b, &term); err != nil {
		return nil, fmt.Errorf("read %s: %w", termFile, err)
	}
	// On or off in the file, make run sends (to Mailpit), signed by the
	// university's name or a demo one. Referrals go to the addresses of
	// the file's referral targets, which the notifier reads from the
	// policy, as the portal does.
	n := term.Spec.Notifications
	if n == nil {
		n = &v1alpha1.Notifications{}
	}
	if n.UniversityName == "" {
		n.UniversityName = "Demo University"
	}
	n.Enabled = true
	n.PortalURL = fmt.Sprintf("http://127.0.0.1:%d", portalPort)
	from := "leap@example.ac.uk"
	if n.SMTP != nil && n.SMTP.From != "" {
		from = n.SMTP.From
	}
	n.SMTP = &v1alpha1.SMTP{Host: "127.0.0.1", Port: int32(smtpPort), From: from, TLS: v1alpha1.SMTPNone}
	return json.Marshal(n)
}

func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

var inboxPage = template.Must(template.New("inbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LEAP demo inbox</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}td,th{padding:.3rem .6rem;text-align:left;border-bottom:1px solid #ddd}iframe{width:100%;height:32rem;border:1px solid #ccc}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}</style></head>
<body>
{{if .Message}}{{with .Message}}<p><a href="/">All messages</a></p>
<h1>{{.Subject}}</h1>
<p>From {{.From}} to {{range .To}}{{.}} {{end}}· {{.Created.Format "2 Jan 2006 15:04:05"}}</p>
<h2>HTML</h2><iframe sandbox srcdoc="{{.HTML}}" title="the message as HTML"></iframe>
<h2>Text</h2><pre>{{.Text}}</pre>{{end}}
{{else}}<h1>LEAP demo inbox</h1>
<p>Everything make run's notifier sent (Mailpit received it; its API is under <a href="/api/v1/messages">/api/v1/</a>). Sign in to the portal as the LEAP team and press "Send digests now" on the Email page; the digests appear here within seconds. Reload to see new mail.</p>
{{if .List}}<table><thead><tr><th>Received</th><th>To</th><th>Subject</th></tr></thead><tbody>
{{range .List}}<tr><td>{{.Created.Format "15:04:05"}}</td><td>{{range .To}}{{.Address}} {{end}}</td><td><a href="/m/{{.ID}}">{{.Subject}}</a></td></tr>
{{end}}</tbody></table>{{else}}<p>No mail yet.</p>{{end}}{{end}}
</body></html>`))

// inbox serves the list of received messages, each message, and Mailpit's
// API under /api/.
func inbox(mp *mailpit.Server) http.Handler {
	mux := http.NewServeMux()
	target, _ := url.Parse(strings.TrimSuffix(mp.InboxURL(), "/"))
	mux.Handle("/api/", httputil.NewSingleHostReverseProxy(target))
	mux.HandleFunc("GET /m/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, err := mp.Message(r.Context(), r.PathValue("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_ = inboxPage.Execute(w, map[string]any{"Message": m})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		list, err := mp.Messages(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = inboxPage.Execute(w, map[string]any{"List": list})
	})
	return mux
}
