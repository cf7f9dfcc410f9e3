// Command leap-portal runs the portal. Configuration comes from the
// environment: see services/internal/app and docs/api.md.
package main

import (
	"context"
	"os"
	"time"

	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/internal/app"
	"github.com/leap-dev/leap/services/portal"
)

func main() { app.Main("leap-portal", run) }

func run(ctx context.Context) error {
	env := &config.Env{}
	scoringURL := env.Required("SCORING_URL", "the scoring service's base URL, such as http://leap-scoring")
	usersFile := env.String("PORTAL_USERS_FILE", "")
	local := env.Bool("PORTAL_LOCAL_ACCOUNTS", false)
	cacheMB := env.Int("PORTAL_PAGE_CACHE_MB", portal.DefaultPageCacheBytes>>20, 0, 4096)
	sso := portal.OIDCFromEnv(env)
	secure := env.Bool("PORTAL_SECURE_COOKIES", true)
	c, err := app.Setup(ctx, "portal", env)
	if err != nil {
		return err
	}
	// Local accounts are off unless switched on: in a cluster people sign
	// in through the university's provider.
	var users map[string]portal.User
	if local {
		users = map[string]portal.User{}
		if _, statErr := os.Stat(usersFile); usersFile != "" && statErr == nil {
			if users, err = portal.LoadUsers(usersFile); err != nil {
				return err
			}
		} else {
			c.Log.Warn("no local accounts: PORTAL_USERS_FILE is unset or missing, so nobody can sign in with a password", "file", usersFile)
		}
	}
	if sso == nil && !local {
		c.Log.Warn("nobody can sign in: set PORTAL_OIDC_ISSUER for single sign-on, or PORTAL_LOCAL_ACCOUNTS=true")
	}
	// In a cluster the LEAP team's attendance switch patches this LeapTerm
	// (the operator sets these variables and grants the patch).
	var writer portal.PolicyWriter
	if ns, name := os.Getenv("LEAP_TERM_NAMESPACE"), os.Getenv("LEAP_TERM_NAME"); ns != "" && name != "" {
		kw, err := portal.InClusterWriter(ns, name)
		if err != nil {
			c.Log.Warn("the attendance switch is read-only", "error", err)
		} else {
			writer = kw
		}
	}
	s := c.Server()
	cfg := portal.Config{Redis: c.Redis, Policy: c.Policy, ScoringURL: scoringURL, Users: users, OIDC: sso, SecureCookies: secure, Now: time.Now,
		Logger: c.Log, TracerProvider: c.Tracer, PolicyWriter: writer, PageCacheBytes: cacheMB << 20}
	if cacheMB == 0 {
		cfg.PageCacheBytes = -1 // off
	}
	p, err := portal.New(cfg)
	if err != nil {
		return err
	}
	p.Register(s.Echo)
	return c.Run(ctx, s)
}
