package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster runs a Redis Cluster of n masters (no replicas) until the
// test ends, with the 16384 slots shared out evenly, and returns the
// members' addresses once every node reports the cluster ok.
func StartCluster(t testing.TB, n int) []string {
	t.Helper()
	ctx := context.Background()
	nodes := make([]*Server, n)
	addrs := make([]string, n)
	for i := range nodes {
		dir := t.TempDir()
		nodes[i] = start(t, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000")
		addrs[i] = nodes[i].Addr
	}
	clients := make([]*redis.Client, n)
	for i, s := range nodes {
		clients[i] = s.Client(t)
	}
	const slots = 16384
	for i, c := range clients {
		lo, hi := i*slots/n, (i+1)*slots/n-1
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("cluster: add slots %d-%d to %s: %v", lo, hi, addrs[i], err)
		}
		if i > 0 {
			host, port, _ := net.SplitHostPort(addrs[0])
			if err := c.ClusterMeet(ctx, host, port).Err(); err != nil {
				t.Fatalf("cluster: meet: %v", err)
			}
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ok := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", n)) {
				ok = false
				break
			}
		}
		if ok {
			return addrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster of %v did not become ok in 20s", addrs)
		}
	}
}

// StartSentinel runs a Sentinel watching master under the name name until
// the test ends, and returns its address once it knows the master.
func StartSentinel(t testing.TB, master *Server, name string) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (apt-get install redis-server; .ci/run does): %v", err)
	}
	addr := freeAddr(t)
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(addr)
	mhost, mport, _ := net.SplitHostPort(master.Addr)
	conf := filepath.Join(dir, "sentinel.conf")
	// Sentinel rewrites its configuration file, so it must be its own.
	body := fmt.Sprintf("port %s\nbind %s\ndir %s\nprotected-mode no\nloglevel warning\n"+
		"sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\n", port, host, dir, name, mhost, mport, name)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer s.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err := s.GetMasterAddrByName(context.Background(), name).Result(); err == nil && len(got) == 2 && got[1] == mport {
			return addr
		}
	}
	t.Fatalf("sentinel on %s did not know master %s in 10s", addr, name)
	return ""
}
