package config

import (
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) *Env {
	return &Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
}

func TestBadValuesAreAllNamed(t *testing.T) {
	e := env(map[string]string{"PORT": "eighty", "TIMEOUT": "-1s", "DEBUG": "perhaps", "POOL": "5"})
	if got := e.Int("POOL", 10, 1, 100); got != 5 {
		t.Errorf("POOL %d", got)
	}
	e.Int("PORT", 8080, 1, 65535)
	e.Duration("TIMEOUT", time.Second, 0, time.Minute)
	e.Bool("DEBUG", false)
	e.Required("REDIS_URL", "a redis:// URL")
	err := e.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`PORT="eighty"`, `TIMEOUT="-1s"`, `DEBUG="perhaps"`, "REDIS_URL is not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	e := env(nil)
	if e.String("X", "d") != "d" || e.Int("Y", 3, 0, 9) != 3 || e.Duration("Z", time.Second, 0, time.Hour) != time.Second || e.Err() != nil {
		t.Error("defaults not used")
	}
}
