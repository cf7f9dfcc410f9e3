package portal

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/services/notifier"
	"github.com/leap-dev/leap/services/server"
)

// notificationRoutes adds the pages about email: for the LEAP team the
// send log and a button that sends the tutors' digests now; for a student
// their choices (notices, what a referral may tell a service). The
// notifier reads the button's request and the choices from Redis, so the
// portal never calls it.
func (p *Portal) notificationRoutes(g *echo.Group) {
	a := g.Group("/admin/notifications", p.requireLEAPTeam)
	a.GET("", p.notificationsPage)
	a.POST("/digests", p.postDigestsNow)
	g.GET("/me/notifications", p.myNotificationsPage)
	g.POST("/me/notifications", p.postMyNotifications)
}

// notificationsPage is notifications.html's data: the LEAP team's email
// page. SMTP is the notifier's last word on the mail server (ok, error, at).
type notificationsPage struct {
	Session *Session
	Log     []notifier.LogEntry
	SMTP    map[string]string
	Asked   bool
}

// myNotificationsPage is mynotifications.html's data: a student's choices.
type myNotificationsPage struct {
	Session *Session
	Prefs   notifier.Preferences
	Saved   bool
}

// sendLogLength is how much of the send log the LEAP team's page shows.
const sendLogLength = 100

func (p *Portal) notificationsPage(c echo.Context) error {
	ctx := c.Request().Context()
	entries, err := notifier.RecentLog(ctx, p.Redis, sendLogLength)
	if err != nil {
		return server.Problem(http.StatusServiceUnavailable, "the send log cannot be read just now")
	}
	smtp, _ := p.Redis.HGetAll(ctx, notifier.SMTPStateKey).Result()
	return p.render(c, http.StatusOK, "notifications.html", notificationsPage{
		Session: sessionOf(c), Log: entries, SMTP: smtp, Asked: c.QueryParam("asked") != "",
	})
}

// postDigestsNow asks the notifier for the tutors' digests now, on behalf
// of the signed-in member of the LEAP team; the request is audited.
func (p *Portal) postDigestsNow(c echo.Context) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	if err := notifier.RequestDigests(ctx, p.Redis, s.Person, p.now()); err != nil {
		return server.Problem(http.StatusServiceUnavailable, "the request could not be stored; try again in a minute")
	}
	if err := p.audit(ctx, s, "", "asked for the tutors' digests now"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/notifications?asked=1")
}

func (p *Portal) myNotificationsPage(c echo.Context) error {
	s := sessionOf(c)
	if s.Role != RoleStudent {
		return notFound
	}
	prefs, err := notifier.GetPreferences(c.Request().Context(), p.Redis, s.Person)
	if err != nil {
		return server.Problem(http.StatusServiceUnavailable, "your choices cannot be read just now")
	}
	return p.render(c, http.StatusOK, "mynotifications.html", myNotificationsPage{
		Session: s, Prefs: prefs, Saved: c.QueryParam("saved") != "",
	})
}

// postMyNotifications stores a student's choices: each box is on when
// sent, off when not.
func (p *Portal) postMyNotifications(c echo.Context) error {
	s := sessionOf(c)
	if s.Role != RoleStudent {
		return notFound
	}
	form, err := c.FormParams()
	if err != nil {
		return server.Problem(http.StatusBadRequest, "The form could not be read.")
	}
	if err := notifier.SetPreferences(c.Request().Context(), p.Redis, s.Person, choicesFromForm(form), p.now()); err != nil {
		return server.Problem(http.StatusServiceUnavailable, "your choices could not be saved; try again in a minute")
	}
	return c.Redirect(http.StatusSeeOther, "/me/notifications?saved=1")
}

// choicesFromForm reads the student's boxes: a box is on when the form
// sends it as "on" (what a browser sends for a ticked box), off otherwise.
func choicesFromForm(form url.Values) notifier.Preferences {
	on := func(name string) bool { return form.Get(name) == "on" }
	return notifier.Preferences{Notices: on("notices"), ShareContact: on("contact"), ShareCourse: on("course"), ShareReason: on("reason")}
}
