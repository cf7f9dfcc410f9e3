package store

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestOpenBuildsTheClientOfEachTopology(t *testing.T) {
	c, err := Open(Options{URL: "redis://:pw@db.example:6380/2"})
	if err != nil {
		t.Fatal(err)
	}
	opt := c.(*redis.Client).Options()
	if opt.Addr != "db.example:6380" || opt.DB != 2 || opt.Password != "pw" {
		t.Errorf("standalone options %+v", opt)
	}
	c, err = Open(Options{URL: "redis://a:26379?addr=b:26379", Topology: Sentinel, SentinelMaster: "leap", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*redis.Client); !ok {
		t.Errorf("sentinel client is %T", c)
	}
	c, err = Open(Options{URL: "redis://a:7000?addr=b:7000&addr=c:7000", Topology: Cluster})
	if err != nil {
		t.Fatal(err)
	}
	if addrs := c.(*redis.ClusterClient).Options().Addrs; len(addrs) != 3 {
		t.Errorf("cluster seeds %v", addrs)
	}
}

// settings are the options Open decides, whatever the topology.
type settings struct {
	password                string
	poolSize                int
	dial, read, write       time.Duration
	maxRetries, dialRetries int
	contextTimeout, skipTLS bool
	tls                     bool
}

func settingsOf(t *testing.T, c redis.UniversalClient) settings {
	t.Helper()
	switch c := c.(type) {
	case *redis.ClusterClient:
		o := c.Options()
		return settings{o.Password, o.PoolSize, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled, o.TLSConfig != nil && o.TLSConfig.InsecureSkipVerify, o.TLSConfig != nil}
	case *redis.Client:
		o := c.Options()
		if o.MaxRetries == 0 {
			o.MaxRetries = -1 // a client stores "no retries" (-1) as 0, and turns 0 into its default
		}
		return settings{o.Password, o.PoolSize, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled, o.TLSConfig != nil && o.TLSConfig.InsecureSkipVerify, o.TLSConfig != nil}
	}
	t.Fatalf("client %T", c)
	return settings{}
}

// TestOpenTakesOptionsFromTheURL: every URL form carries go-redis's client
// options (timeouts, pool size, TLS), LEAP's defaults fill what it leaves
// out, and the environment's overrides win over both.
func TestOpenTakesOptionsFromTheURL(t *testing.T) {
	defaults := settings{dial: 2 * time.Second, read: 2 * time.Second, write: 2 * time.Second, maxRetries: -1, dialRetries: 1, contextTimeout: true}
	cases := []struct {
		name string
		o    Options
		want settings
	}{
		{"standalone defaults", Options{URL: "redis://db:6379"}, defaults},
		{"standalone query", Options{URL: "redis://:pw@db:6379/1?dial_timeout=3s&read_timeout=500ms&pool_size=20&max_retries=2"},
			settings{password: "pw", poolSize: 20, dial: 3 * time.Second, read: 500 * time.Millisecond, write: 2 * time.Second, maxRetries: 2, dialRetries: 1, contextTimeout: true}},
		{"standalone overridden", Options{URL: "redis://:pw@db:6379?read_timeout=500ms&pool_size=20", Password: "secret", PoolSize: 5, ReadTimeout: time.Second, WriteTimeout: 4 * time.Second},
			settings{password: "secret", poolSize: 5, dial: 2 * time.Second, read: time.Second, write: 4 * time.Second, maxRetries: -1, dialRetries: 1, contextTimeout: true}},
		{"standalone TLS", Options{URL: "rediss://db:6380?skip_verify=true&write_timeout=1"},
			settings{dial: 2 * time.Second, read: 2 * time.Second, write: time.Second, maxRetries: -1, dialRetries: 1, contextTimeout: true, skipTLS: true, tls: true}},
		{"unix socket", Options{URL: "unix:///run/redis.sock?db=3&pool_size=4"},
			settings{poolSize: 4, dial: 2 * time.Second, read: 2 * time.Second, write: 2 * time.Second, maxRetries: -1, dialRetries: 1, contextTimeout: true}},
		{"sentinel query", Options{URL: "redis://a:26379?addr=b:26379&master_name=leap&password=mpw&pool_size=7&dial_timeout=1s&dialer_retries=3&context_timeout_enabled=false", Topology: Sentinel},
			settings{password: "mpw", poolSize: 7, dial: time.Second, read: 2 * time.Second, write: 2 * time.Second, maxRetries: -1, dialRetries: 3, contextTimeout: false}},
		{"sentinel overridden", Options{URL: "rediss://a:26379?master_name=other&password=mpw", Topology: Sentinel, SentinelMaster: "leap", Password: "secret", DialTimeout: 5 * time.Second},
			settings{password: "secret", dial: 5 * time.Second, read: 2 * time.Second, write: 2 * time.Second, maxRetries: -1, dialRetries: 1, contextTimeout: true, tls: true}},
		{"cluster query", Options{URL: "rediss://:pw@a:7000?addr=b:7000&read_timeout=3s&pool_size=9&max_retries=1", Topology: Cluster},
			settings{password: "pw", poolSize: 9, dial: 2 * time.Second, read: 3 * time.Second, write: 2 * time.Second, maxRetries: 1, dialRetries: 1, contextTimeout: true, tls: true}},
		{"cluster overridden", Options{URL: "redis://a:7000?pool_size=9", Topology: Cluster, PoolSize: 3, Password: "secret"},
			settings{password: "secret", poolSize: 3, dial: 2 * time.Second, read: 2 * time.Second, write: 2 * time.Second, maxRetries: -1, dialRetries: 1, contextTimeout: true}},
	}
	for _, tc := range cases {
		c, err := Open(tc.o)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := settingsOf(t, c)
		_ = c.Close()
		// go-redis's failover client takes its pool size from the
		// master's options; zero means its default.
		if tc.want.poolSize == 0 {
			got.poolSize = 0
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	c, err := Open(Options{URL: "redis://a:26379?master_name=leap", Topology: Sentinel})
	if err != nil {
		t.Fatalf("sentinel with the master named in the URL: %v", err)
	}
	_ = c.Close()
}

func TestOpenRefusesBadConfiguration(t *testing.T) {
	cases := map[string]struct {
		o    Options
		want string
	}{
		"not a URL":          {Options{URL: "localhost:6379"}, "want redis://host:port"},
		"no URL":             {Options{}, "want redis://host:port"},
		"wrong scheme":       {Options{URL: "http://localhost:6379"}, "invalid URL scheme: http"},
		"bad database":       {Options{URL: "redis://localhost:6379/x"}, `invalid database number: "x"`},
		"bad path":           {Options{URL: "redis://localhost:6379/1/2"}, "invalid URL path"},
		"unknown option":     {Options{URL: "redis://localhost:6379?pool=3"}, "unexpected option: pool"},
		"members standalone": {Options{URL: "redis://localhost:6379?addr=b:6379"}, "unexpected option: addr"},
		"bad number":         {Options{URL: "redis://localhost:6379?pool_size=many"}, "invalid pool_size number"},
		"bad duration":       {Options{URL: "redis://localhost:6379?read_timeout=soon"}, "invalid read_timeout duration"},
		"bad boolean":        {Options{URL: "rediss://localhost:6379?skip_verify=maybe"}, "invalid skip_verify boolean"},
		"bad member":         {Options{URL: "redis://a:26379?addr=b&master_name=m", Topology: Sentinel}, "addr"},
		"sentinel master":    {Options{URL: "redis://a:26379", Topology: Sentinel}, "Sentinel needs the master's name"},
		"cluster database":   {Options{URL: "redis://a:7000/3", Topology: Cluster}, "database 0 only"},
		"cluster option":     {Options{URL: "redis://a:7000?master_name=m", Topology: Cluster}, "unexpected option: master_name"},
		"topology":           {Options{URL: "redis://a:6379", Topology: "Ring"}, `topology "Ring"`},
		"bad escape":         {Options{URL: "redis://a:6379/%zz"}, "want redis://host:port"},
	}
	for name, tc := range cases {
		_, err := Open(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %+v: error %v, want %q", name, tc.o, err, tc.want)
		}
	}
	for _, raw := range []string{"http://user:hunter2@x", "redis://:hunter2@x:6379/%zz", "redis://:hunter2@x:port", "redis://:hunter2@x?read_timeout=z",
		"redis://x?master_name=m&password=hunter2&bogus=1", "redis://:hunter2@x:6379?addr=y", "redis://:hun/ter2@x", "redis://:hunter2@x:6379/%"} {
		for _, topo := range []Topology{Standalone, Sentinel, Cluster} {
			_, err := Open(Options{URL: raw, Topology: topo})
			if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") {
				t.Errorf("%s %s: the error shows the password, or there is none: %v", topo, raw, err)
			}
		}
	}
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"redis://:pw@h:6379/1":                     "redis://:***@h:6379/1",
		"redis://u:pw@h:6379":                      "redis://u:***@h:6379",
		"redis://u@h:6379":                         "redis://u@h:6379",
		"redis://h:6379?master_name=m&password=pw": "redis://h:6379?master_name=m&password=***",
		"redis://:p@w/d?@x@h":                      "redis://:***@h",
		"rediss://:a%zz@h":                         "rediss://:***@h",
		":pw@h":                                    ":***@h",
		"redis://h:6379":                           "redis://h:6379",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// FuzzRedactURL: whatever the URL around it, a password in the user info
// does not survive redaction, nor does Open quote it in an error.
func FuzzRedactURL(f *testing.F) {
	f.Add("redis", "hunter2", "db:6379/1")
	f.Add("rediss", "p@ss/w?rd#", "h:6380?skip_verify=true")
	f.Add("redis", "%zz", "h")
	f.Add("unix", "secret", "/run/redis.sock")
	f.Add("redis", "x", "h?addr=b:1&password=y")
	f.Fuzz(func(t *testing.T, scheme, password, rest string) {
		raw := scheme + "://u:" + password + "@" + rest
		visible := scheme + "://u:***@" + rest
		// Errors quote the URL: the password may show as written or escaped.
		quoted := strconv.Quote(password)
		shows := func(s string) bool {
			return strings.Contains(s, password) || strings.Contains(s, quoted[1:len(quoted)-1])
		}
		if len(password) < 4 || strings.Contains(password, "*") || shows(visible) || shows(strconv.Quote(visible)) {
			return // too short or too common to tell apart from the rest
		}
		if got := redactURL(raw); strings.Contains(got, password) {
			t.Fatalf("redactURL(%q) = %q shows the password", raw, got)
		}
		for _, topo := range []Topology{Standalone, Sentinel, Cluster} {
			c, err := Open(Options{URL: raw, Topology: topo, SentinelMaster: "m"})
			if err != nil {
				if shows(err.Error()) {
					t.Fatalf("Open(%q) on %s: %v shows the password", raw, topo, err)
				}
				continue
			}
			_ = c.Close()
		}
	})
}

func TestParseCounts(t *testing.T) {
	c, err := ParseCounts("3,0,1")
	if err != nil || c[0] != 3 || c[2] != 1 || c[9] != 0 {
		t.Errorf("%v %v", c, err)
	}
	for _, bad := range []string{"1,x", "-1", "1,2,3,4,5,6,7,8,9,10,11", "1,,2"} {
		if _, err := ParseCounts(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseCounts(f *testing.F) {
	f.Add("3,0,1")
	f.Add("")
	f.Add("9999999999")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCounts(s)
		if err != nil {
			return
		}
		for _, n := range c {
			if n < 0 {
				t.Fatalf("%q gave a negative count", s)
			}
		}
	})
}
