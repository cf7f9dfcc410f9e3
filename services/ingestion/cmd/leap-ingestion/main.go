// Command leap-ingestion runs the ingestion service. Configuration comes
// from the environment: see services/internal/app and docs/api.md.
package main

import (
	"context"
	"time"

	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/ingestion"
	"github.com/leap-dev/leap/services/internal/app"
	"github.com/leap-dev/leap/services/server"
)

func main() { app.Main("leap-ingestion", run) }

func run(ctx context.Context) error {
	env := &config.Env{}
	maxBody := env.Int("INGEST_MAX_BODY_BYTES", 32<<20, 1<<10, 1<<30)
	tokenDir, tokenList := env.String("INGEST_TOKENS_DIR", ""), env.String("INGEST_TOKENS", "")
	c, err := app.Setup(ctx, "ingestion", env)
	if err != nil {
		return err
	}
	tokens, err := app.Tokens(tokenDir, tokenList)
	if err != nil {
		return err
	}
	// Batches are large: bounded by the pace of the body, not a short total.
	c.Timeouts = server.BulkTimeouts
	s := c.Server()
	svc := &ingestion.Service{Redis: c.Redis, Policy: c.Policy, Tokens: tokens.Source, TokenExpiry: tokens.Expires, MaxBodyBytes: int64(maxBody), Now: time.Now, Log: c.Log}
	svc.Register(s.Echo, s.Registry)
	return c.Run(ctx, s)
}
