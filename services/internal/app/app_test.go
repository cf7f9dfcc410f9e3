package app

import (
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/config"
)

func envOf(vars map[string]string) *config.Env {
	return &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
}

func TestPorts(t *testing.T) {
	env := envOf(nil)
	if api, metrics := Ports(env); api != 8080 || metrics != 9090 || env.Err() != nil {
		t.Errorf("defaults: %d %d %v", api, metrics, env.Err())
	}
	env = envOf(map[string]string{"PORT": "8000", "METRICS_PORT": "9100"})
	if api, metrics := Ports(env); api != 8000 || metrics != 9100 || env.Err() != nil {
		t.Errorf("set: %d %d %v", api, metrics, env.Err())
	}
	for vars, want := range map[[2]string]string{
		{"9090", ""}:     `METRICS_PORT=9090: the same as PORT`,
		{"", "http"}:     `METRICS_PORT="http": want a whole number from 1 to 65535`,
		{"8080", "8080"}: `METRICS_PORT=8080: the same as PORT`,
	} {
		env := envOf(map[string]string{"PORT": vars[0], "METRICS_PORT": vars[1]})
		Ports(env)
		if err := env.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("PORT=%q METRICS_PORT=%q: error %v, want %q", vars[0], vars[1], err, want)
		}
	}
}

// TestRedisOptionsOverrideOnlyWhenSet: unset variables leave the URL's
// options alone; set ones override them.
func TestRedisOptionsOverrideOnlyWhenSet(t *testing.T) {
	env := envOf(map[string]string{"REDIS_URL": "redis://db:6379?read_timeout=5s&pool_size=50"})
	o := RedisOptions(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if o.ReadTimeout != 0 || o.DialTimeout != 0 || o.WriteTimeout != 0 || o.PoolSize != 0 || o.Password != "" {
		t.Errorf("unset variables override the URL: %+v", o)
	}
	env = envOf(map[string]string{"REDIS_URL": "redis://db:6379", "REDIS_READ_TIMEOUT": "750ms", "REDIS_POOL_SIZE": "12", "REDIS_PASSWORD": "pw"})
	o = RedisOptions(env)
	if o.ReadTimeout != 750*time.Millisecond || o.PoolSize != 12 || o.Password != "pw" || env.Err() != nil {
		t.Errorf("set variables: %+v %v", o, env.Err())
	}
}
