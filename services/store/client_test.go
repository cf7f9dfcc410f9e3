package store

import (
	"strings"
	"testing"

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

func TestOpenRefusesBadConfiguration(t *testing.T) {
	cases := map[string]Options{
		"not a URL":       {URL: "localhost:6379"},
		"wrong scheme":    {URL: "http://localhost:6379"},
		"bad database":    {URL: "redis://localhost:6379/x"},
		"sentinel master": {URL: "redis://a:26379", Topology: Sentinel},
		"topology":        {URL: "redis://a:6379", Topology: "Ring"},
	}
	for name, o := range cases {
		if _, err := Open(o); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
	_, err := Open(Options{URL: "http://user:hunter2@x"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
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
