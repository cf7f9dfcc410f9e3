// Command leap-notifier runs the notifier: tutors' digests, referrals and
// students' notices by email. Configuration comes from the environment:
// see services/internal/app, services/notifier and docs/api.md.
package main

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/internal/app"
	"github.com/leap-dev/leap/services/notifier"
)

func main() { app.Main("leap-notifier", run) }

func run(ctx context.Context) error {
	env := &config.Env{}
	n, err := notifier.FromEnv(env)
	if err != nil {
		return err
	}
	c, err := app.Setup(ctx, "notifier", env)
	if err != nil {
		return err
	}
	n.Redis, n.Policy, n.Log = c.Redis, c.Policy, c.Log
	n.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(c.Tracer))}
	s := c.Server()
	n.Register(s.Registry)
	go n.Run(ctx)
	return c.Run(ctx, s)
}
