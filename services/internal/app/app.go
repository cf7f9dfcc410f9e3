// Package app is what every LEAP service binary does before and after its
// own routes: configuration from the environment, logs, traces, Redis, the
// policy and its watcher, the readiness check, and serving until SIGTERM.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/extra/redisprometheus/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
	"github.com/leap-dev/leap/services/telemetry"
)

// Common is what every service shares.
type Common struct {
	Name   string
	Log    *slog.Logger
	Redis  redis.UniversalClient
	Policy *policy.Source
	Tracer trace.TracerProvider
	// Port serves the API and the probes; MetricsPort serves /metrics
	// alone, so a NetworkPolicy can let a scraper in there and nowhere else.
	Port        int
	MetricsPort int
	Grace       time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Timeouts of the service's connections and requests; zero fields
	// take server.DefaultTimeouts'.
	Timeouts server.Timeouts

	shutdownTracing func(context.Context) error
}

// RedisOptions reads the Redis settings from the environment: REDIS_URL,
// whose query may carry any go-redis client option, and the variables that
// override it when set.
func RedisOptions(env *config.Env) store.Options {
	return store.Options{
		URL:            env.Required("REDIS_URL", "the Redis address, such as redis://localhost:6379"),
		Topology:       store.Topology(env.String("REDIS_TOPOLOGY", string(store.Standalone))),
		SentinelMaster: env.String("REDIS_SENTINEL_MASTER", ""),
		Password:       env.String("REDIS_PASSWORD", ""),
		PoolSize:       env.Int("REDIS_POOL_SIZE", 0, 0, 10000),
		DialTimeout:    env.Duration("REDIS_DIAL_TIMEOUT", 0, time.Millisecond, time.Minute),
		ReadTimeout:    env.Duration("REDIS_READ_TIMEOUT", 0, time.Millisecond, time.Minute),
		WriteTimeout:   env.Duration("REDIS_WRITE_TIMEOUT", 0, time.Millisecond, time.Minute),
		Tracing:        true,
	}
}

// Ports reads PORT (the API and the probes, default 8080) and METRICS_PORT
// (Prometheus's /metrics, default 9090), which must differ.
func Ports(env *config.Env) (api, metrics int) {
	api = env.Int("PORT", 8080, 1, 65535)
	metrics = env.Int("METRICS_PORT", 9090, 1, 65535)
	if api == metrics {
		env.Fail(fmt.Errorf("METRICS_PORT=%d: the same as PORT; metrics are served on a port of their own", metrics))
	}
	return api, metrics
}

// TrustedProxies reads TRUSTED_PROXIES: the CIDRs of the proxies (an
// Ingress controller's pods) whose X-Forwarded-For is believed; def when
// unset or blank. In a cluster the operator sets it from the LeapTerm.
func TrustedProxies(env *config.Env, def []netip.Prefix) []netip.Prefix {
	v := env.String("TRUSTED_PROXIES", "")
	if v == "" {
		return def
	}
	p, err := server.ParseTrustedProxies(v)
	if err != nil {
		env.Fail(fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	return p
}

// LogLevel reads LOG_LEVEL (debug, info, warn, error).
func LogLevel(env *config.Env) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(env.String("LOG_LEVEL", "info"))); err != nil {
		env.Fail(fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", os.Getenv("LOG_LEVEL")))
	}
	return l
}

// Setup reads the configuration every service shares and connects what it
// needs. A bad value stops the service with a message naming it.
func Setup(ctx context.Context, name string, env *config.Env) (*Common, error) {
	c := &Common{Name: name}
	c.Log = telemetry.Logger(os.Stdout, name, LogLevel(env))
	c.Port, c.MetricsPort = Ports(env)
	c.Grace = env.Duration("SHUTDOWN_GRACE", 20*time.Second, 0, 5*time.Minute)
	c.TrustedProxies = TrustedProxies(env, nil)
	policyFile := env.Required("LEAP_POLICY_FILE", "the policy file: the ConfigMap's policy.json, or a LeapTerm YAML file")
	redisOpts := RedisOptions(env)
	if err := env.Err(); err != nil {
		return nil, err
	}
	var err error
	if c.Policy, err = policy.Open(policyFile, c.Log); err != nil {
		return nil, err
	}
	if c.Tracer, c.shutdownTracing, err = telemetry.Setup(ctx, name); err != nil {
		return nil, err
	}
	redisOpts.TracerProvider = c.Tracer
	if c.Redis, err = store.Open(redisOpts); err != nil {
		return nil, err
	}
	go c.Policy.Watch(ctx, 2*time.Second)
	c.Log.InfoContext(ctx, "starting", slog.String("policy", c.Policy.Current().Hash), slog.String("leap_term", c.Policy.Current().Doc.LeapTerm),
		slog.Int("port", c.Port), slog.Int("metrics_port", c.MetricsPort))
	return c, nil
}

// Server is the service's server with readiness tied to Redis and policy.
func (c *Common) Server() *server.Server {
	s := server.New(server.Options{
		Name: c.Name, Logger: c.Log, TracerProvider: c.Tracer, TrustedProxies: c.TrustedProxies, Timeouts: c.Timeouts,
		Ready: func(ctx context.Context) error {
			if c.Policy.Current() == nil {
				return errors.New("no policy loaded")
			}
			return store.Ping(ctx, c.Redis)
		},
	})
	s.Registry.MustRegister(redisprometheus.NewCollector("leap", "redis", c.Redis))
	return s
}

// Run serves until ctx ends, then shuts down in order.
func (c *Common) Run(ctx context.Context, s *server.Server) error {
	err := s.ListenAndServe(ctx, fmt.Sprintf(":%d", c.Port), fmt.Sprintf(":%d", c.MetricsPort), c.Grace)
	flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.shutdownTracing != nil {
		_ = c.shutdownTracing(flush)
	}
	_ = c.Redis.Close()
	return err
}

// Main runs a service binary: run until SIGINT or SIGTERM, and exit 1 with
// the error on stderr when it fails.
func Main(name string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// PreviousSuffix names the key of a source's previous token during a
// rotation: SOURCE.previous holds "TOKEN EXPIRY" (EXPIRY in RFC 3339), the
// token the source used before, valid until EXPIRY. The operator writes it;
// ingestion accepts both the source's token and its previous one until then.
const PreviousSuffix = ".previous"

// ParsePreviousToken reads a SOURCE.previous value: a token of 16 characters
// or more, one space, and its expiry in RFC 3339.
func ParsePreviousToken(v string) (string, time.Time, error) {
	token, at, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || len(token) < 16 || strings.ContainsAny(token, " \t\r\n") {
		return "", time.Time{}, errors.New(`want "TOKEN EXPIRY": a token of 16 characters or more, a space, and an RFC 3339 time`)
	}
	expires, err := time.Parse(time.RFC3339, strings.TrimSpace(at))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("expiry: %w", err)
	}
	return token, expires, nil
}

// IngestTokens are the bearer tokens ingestion accepts.
type IngestTokens struct {
	// Source maps a token to its source system.
	Source map[string]string
	// Expires holds the end of the overlap of each previous token.
	Expires map[string]time.Time
}

// Tokens reads ingest tokens: one file per source in dir (the operator's
// Secret, mounted), SOURCE.previous files for a rotation's previous token,
// and "source:token" pairs in list (local runs; a source may be named twice).
func Tokens(dir, list string) (IngestTokens, error) {
	tokens := IngestTokens{Source: map[string]string{}, Expires: map[string]time.Time{}}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return IngestTokens{}, fmt.Errorf("read ingest tokens: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue // the ..data links of a Secret volume
			}
			b, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				return IngestTokens{}, fmt.Errorf("read ingest token %s: %w", e.Name(), err)
			}
			if source, ok := strings.CutSuffix(e.Name(), PreviousSuffix); ok {
				t, expires, err := ParsePreviousToken(string(b))
				if err == nil && source == "" {
					err = errors.New("no source named")
				}
				if err != nil {
					return IngestTokens{}, fmt.Errorf("read ingest token %s: %w", e.Name(), err)
				}
				tokens.Source[t], tokens.Expires[t] = source, expires
				continue
			}
			if t := strings.TrimSpace(string(b)); t != "" {
				tokens.Source[t] = e.Name()
			}
		}
	}
	for _, pair := range strings.Split(list, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		source, token, ok := strings.Cut(pair, ":")
		if !ok || source == "" || len(token) < 16 {
			return IngestTokens{}, fmt.Errorf("INGEST_TOKENS entry %q: want source:token with a token of 16 characters or more", source)
		}
		tokens.Source[token] = source
	}
	if len(tokens.Source) == 0 {
		return IngestTokens{}, errors.New("no ingest tokens: set INGEST_TOKENS_DIR or INGEST_TOKENS, or nothing can be written")
	}
	return tokens, nil
}
