// Command leap-portal runs the portal. Configuration comes from the
// environment: see services/internal/app and the README.
package main

import (
	"context"
	"time"

	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/internal/app"
	"github.com/leap-dev/leap/services/portal"
)

func main() { app.Main("leap-portal", run) }

func run(ctx context.Context) error {
	env := &config.Env{}
	scoringURL := env.Required("SCORING_URL", "the scoring service's base URL, such as http://leap-scoring")
	usersFile := env.Required("PORTAL_USERS_FILE", "a YAML list of local accounts (username, passwordHash, person, role)")
	secure := env.Bool("PORTAL_SECURE_COOKIES", true)
	c, err := app.Setup(ctx, "portal", env)
	if err != nil {
		return err
	}
	users, err := portal.LoadUsers(usersFile)
	if err != nil {
		return err
	}
	s := c.Server()
	p := &portal.Portal{Redis: c.Redis, Policy: c.Policy, ScoringURL: scoringURL, Users: users, SecureCookies: secure, Now: time.Now}
	if err := p.Register(s.Echo); err != nil {
		return err
	}
	return c.Run(ctx, s)
}
