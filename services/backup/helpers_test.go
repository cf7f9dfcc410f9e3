package backup_test

import (
	"context"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	runningMu sync.Mutex
	running   = map[string]*exec.Cmd{}
)

// startOn runs redis-server on dir with the arguments the operator gives
// the Managed Redis, and returns its address.
func startOn(t *testing.T, redisServer, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(redisServer, "--port", port, "--bind", "127.0.0.1",
		"--appendonly", "yes", "--appendfsync", "everysec", "--dir", dir, "--requirepass", password)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runningMu.Lock()
	running[addr] = cmd
	runningMu.Unlock()
	t.Cleanup(func() { stopOn(addr) })
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return addr
		}
	}
	t.Fatalf("redis-server on %s did not answer in 10s", addr)
	return ""
}

// stopOn shuts the server down cleanly, as a pod's SIGTERM does.
func stopOn(addr string) {
	runningMu.Lock()
	cmd := running[addr]
	delete(running, addr)
	runningMu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}
