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

	"github.com/prometheus/client_golang/prometheus"
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
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS;
	// for Sentinel and Cluster, more members as ?addr=host:port.
	URL            string
	Topology       Topology
	SentinelMaster string
	// Password, when set, overrides any password in URL (it comes from a Secret).
	Password     string
	PoolSize     int
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// Tracing adds OpenTelemetry spans to every command.
	Tracing bool
	// TracerProvider for those spans; the global one when nil.
	TracerProvider trace.TracerProvider
}

// Open builds a client for standalone, Sentinel or Cluster Redis. It does
// not connect: the services' /readyz pings it.
func Open(o Options) (redis.UniversalClient, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("redis URL %q: want redis://host:port or rediss://host:port", redactURL(o.URL))
	}
	// A Redis that is down or hung must cost a request seconds, not tens
	// of them: no retry of a command that timed out (each retry waits the
	// read timeout again; the caller's 503 asks for a retry instead), one
	// dial attempt, and the request's own deadline honoured by every command.
	uo := &redis.UniversalOptions{
		Addrs:                 []string{u.Host},
		PoolSize:              o.PoolSize,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
	}
	q := u.Query()
	uo.Addrs = append(uo.Addrs, q["addr"]...)
	if u.User != nil {
		uo.Username = u.User.Username()
		uo.Password, _ = u.User.Password()
	}
	if o.Password != "" {
		uo.Password = o.Password
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if _, err := fmt.Sscan(db, &uo.DB); err != nil {
			return nil, fmt.Errorf("redis URL %q: database %q is not a number", redactURL(o.URL), db)
		}
	}
	if u.Scheme == "rediss" {
		redisOpts, err := redis.ParseURL("rediss://" + u.Host)
		if err != nil {
			return nil, fmt.Errorf("redis URL %q: %w", redactURL(o.URL), err)
		}
		uo.TLSConfig = redisOpts.TLSConfig
	}
	var client redis.UniversalClient
	switch o.Topology {
	case "", Standalone:
		uo.Addrs = uo.Addrs[:1]
		client = redis.NewClient(uo.Simple())
	case Sentinel:
		if o.SentinelMaster == "" {
			return nil, fmt.Errorf("redis: Sentinel needs the master's name")
		}
		uo.MasterName = o.SentinelMaster
		client = redis.NewFailoverClient(uo.Failover())
	case Cluster:
		uo.DB = 0
		client = redis.NewClusterClient(uo.Cluster())
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

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	return u.String()
}

// PoolCollector exports the client's connection pool figures to Prometheus.
type PoolCollector struct {
	Client redis.UniversalClient
}

var (
	poolHits     = prometheus.NewDesc("leap_redis_pool_hits_total", "Times a free connection was found in the pool.", nil, nil)
	poolMisses   = prometheus.NewDesc("leap_redis_pool_misses_total", "Times a connection had to be made.", nil, nil)
	poolTimeouts = prometheus.NewDesc("leap_redis_pool_timeouts_total", "Times a caller waited in vain for a connection.", nil, nil)
	poolTotal    = prometheus.NewDesc("leap_redis_pool_connections", "Connections in the pool.", nil, nil)
	poolIdle     = prometheus.NewDesc("leap_redis_pool_idle_connections", "Idle connections in the pool.", nil, nil)
)

// Describe implements prometheus.Collector.
func (p PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolHits, poolMisses, poolTimeouts, poolTotal, poolIdle} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.Client.PoolStats()
	ch <- prometheus.MustNewConstMetric(poolHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(poolMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(poolTimeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns))
}
