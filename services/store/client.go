// Package store is LEAP's data in Redis: the client built from
// configuration, the key layout, and the operations the services share.
//
// Every key about one student carries the hash tag {s:ID}, so that all of a
// student's data lives on one Redis Cluster slot and the Lua scripts that
// change it together stay atomic on a Cluster too.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// Topology is the shape of the Redis deployment.
type Topology string

// Topologies, as in the LeapTerm's spec.redis.topology.
const (
	Standalone Topology = "Standalone"
	Sentinel   Topology = "Sentinel"
	Cluster    Topology = "Cluster"
)

// Options configure the Redis client.
type Options struct {
	// URL is the Redis address in go-redis's URL forms, which also carry
	// any client option as a query parameter (dial_timeout=3s,
	// pool_size=20, skip_verify=true, ...):
	//   - Standalone: redis://[user:password@]host:port[/db], rediss:// for
	//     TLS, or unix:///path/to/redis.sock (redis.ParseURL);
	//   - Sentinel: the Sentinels, redis://[user:password@]host:port?addr=host:port&master_name=NAME,
	//     where the user info is the Sentinels' own and the master's
	//     password is ?password= (redis.ParseFailoverURL);
	//   - Cluster: the seed nodes, redis://[user:password@]host:port?addr=host:port (redis.ParseClusterURL).
	URL      string
	Topology Topology
	// The fields below, when set, override the URL (they come from
	// environment variables and a Secret).
	SentinelMaster string
	Password       string
	PoolSize       int
	DialTimeout    time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	// Tracing adds OpenTelemetry spans to every command.
	Tracing bool
	// TracerProvider for those spans; the global one when nil.
	TracerProvider trace.TracerProvider
}

// defaultTimeout is the dial, read and write timeout that neither the URL
// nor Options set.
const defaultTimeout = 2 * time.Second

// Open builds a client for standalone, Sentinel or Cluster Redis. It does
// not connect: the services' /readyz pings it.
func Open(o Options) (redis.UniversalClient, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Scheme != "unix") {
		return nil, fmt.Errorf("redis URL %q: want redis://host:port, rediss://host:port or unix:///path", redactURL(o.URL))
	}
	q := u.Query()
	var client redis.UniversalClient
	switch o.Topology {
	case "", Standalone:
		opt, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, urlError(o.URL, err)
		}
		o.tune(q, tunables{&opt.Password, &opt.PoolSize, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries, &opt.DialerRetries, &opt.ContextTimeoutEnabled})
		client = redis.NewClient(opt)
	case Sentinel:
		opt, err := redis.ParseFailoverURL(o.URL)
		if err != nil {
			return nil, urlError(o.URL, err)
		}
		if o.SentinelMaster != "" {
			opt.MasterName = o.SentinelMaster
		}
		if opt.MasterName == "" {
			return nil, fmt.Errorf("redis URL %q: Sentinel needs the master's name: REDIS_SENTINEL_MASTER or ?master_name=", redactURL(o.URL))
		}
		o.tune(q, tunables{&opt.Password, &opt.PoolSize, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries, &opt.DialerRetries, &opt.ContextTimeoutEnabled})
		client = redis.NewFailoverClient(opt)
	case Cluster:
		// A Cluster has database 0 only; ParseClusterURL ignores a path.
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return nil, fmt.Errorf("redis URL %q: a Cluster has database 0 only, not %q", redactURL(o.URL), db)
		}
		opt, err := redis.ParseClusterURL(o.URL)
		if err != nil {
			return nil, urlError(o.URL, err)
		}
		o.tune(q, tunables{&opt.Password, &opt.PoolSize, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries, &opt.DialerRetries, &opt.ContextTimeoutEnabled})
		client = redis.NewClusterClient(opt)
	default:
		return nil, fmt.Errorf("redis topology %q: want Standalone, Sentinel or Cluster", o.Topology)
	}
	if o.Tracing {
		var opts []redisotel.TracingOption
		if o.TracerProvider != nil {
			opts = append(opts, redisotel.WithTracerProvider(o.TracerProvider))
		}
		if err := redisotel.InstrumentTracing(client, opts...); err != nil {
			return nil, fmt.Errorf("redis tracing: %w", err)
		}
	}
	return client, nil
}

// tunables point at the fields of one of go-redis's option structs that
// LEAP sets beyond the URL.
type tunables struct {
	password                               *string
	poolSize                               *int
	dialTimeout, readTimeout, writeTimeout *time.Duration
	maxRetries, dialerRetries              *int
	contextTimeout                         *bool
}

// tune applies LEAP's defaults where the URL's query q leaves an option
// out, and then the overrides of Options.
//
// A Redis that is down or hung must cost a request seconds, not tens of
// them: no retry of a command that timed out (each retry waits the read
// timeout again; the caller's 503 asks for a retry instead), one dial
// attempt, and the request's own deadline honoured by every command.
func (o Options) tune(q url.Values, t tunables) {
	unset := func(name string) bool { return q.Get(name) == "" }
	for name, d := range map[string]*time.Duration{"dial_timeout": t.dialTimeout, "read_timeout": t.readTimeout, "write_timeout": t.writeTimeout} {
		if unset(name) {
			*d = defaultTimeout
		}
	}
	if unset("max_retries") {
		*t.maxRetries = -1
	}
	if unset("dialer_retries") {
		*t.dialerRetries = 1
	}
	if unset("context_timeout_enabled") {
		*t.contextTimeout = true
	}
	if o.Password != "" {
		*t.password = o.Password
	}
	if o.PoolSize > 0 {
		*t.poolSize = o.PoolSize
	}
	for _, set := range []struct {
		v time.Duration
		d *time.Duration
	}{{o.DialTimeout, t.dialTimeout}, {o.ReadTimeout, t.readTimeout}, {o.WriteTimeout, t.writeTimeout}} {
		if set.v > 0 {
			*set.d = set.v
		}
	}
}

// urlError is a failure to parse a Redis URL, without the password that
// url.Parse would quote back.
func urlError(raw string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("redis URL %q: %w", redactURL(raw), err)
}

// Unavailable reports whether err means that Redis could not be reached or
// did not answer in time (down, hung, out of connections, failing over),
// rather than that a command was wrong: the first is a 503, the second a bug.
func Unavailable(err error) bool {
	var ne net.Error
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &ne):
		return true
	}
	// Redis's own refusals while it cannot serve.
	msg := err.Error()
	for _, prefix := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS"} {
		if strings.HasPrefix(msg, prefix) || strings.Contains(msg, ": "+prefix) {
			return true
		}
	}
	return false
}

// Ping checks that Redis answers.
func Ping(ctx context.Context, c redis.UniversalClient) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	return nil
}

// redactURL hides the password of a Redis URL, in its user info and in a
// password query parameter, even when the URL does not parse: everything
// between "://" and the last "@" counts as user info, so a password that
// holds "/", "?" or "@" is hidden too (at worst, more than the password).
func redactURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			prefix += user + ":***@"
			rest = rest[at+1:]
		}
	}
	return prefix + redactQueryPasswords(rest)
}

// redactQueryPasswords replaces the value of every parameter whose name
// ends in "password" (password, sentinel_password) with ***.
func redactQueryPasswords(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	params := strings.Split(s[q+1:], "&")
	for i, p := range params {
		if name, _, ok := strings.Cut(p, "="); ok && strings.HasSuffix(strings.ToLower(name), "password") {
			params[i] = name + "=***"
		}
	}
	return s[:q+1] + strings.Join(params, "&")
}
