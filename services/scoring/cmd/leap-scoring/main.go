// Command leap-scoring runs the scoring service. Configuration comes from
// the environment: see services/internal/app and docs/api.md.
package main

import (
	"context"
	"time"

	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/internal/app"
	"github.com/leap-dev/leap/services/scoring"
)

func main() { app.Main("leap-scoring", run) }

func run(ctx context.Context) error {
	env := &config.Env{}
	ttl := env.Duration("SCORING_CACHE_TTL", 10*time.Minute, time.Second, 24*time.Hour)
	c, err := app.Setup(ctx, "scoring", env)
	if err != nil {
		return err
	}
	s := c.Server()
	svc := &scoring.Service{Redis: c.Redis, Policy: c.Policy, Now: time.Now, CacheTTL: ttl, Log: c.Log}
	svc.Register(s.Echo, s.Registry)
	return c.Run(ctx, s)
}
