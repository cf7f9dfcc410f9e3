package ha_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/store"
)

const password = "ha-test-password"

// lossWindow is what appendfsync everysec and asynchronous replication,
// as the operator configures them, allow to be lost when the master dies:
// writes acknowledged in about the last second. Its README documents it.
const lossWindow = time.Second

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

type proc struct {
	cmd  *exec.Cmd
	args []string
	port string
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (apt-get install redis-server; .ci/run does): %v", err)
	}
	p := &proc{args: append([]string{bin}, args...)}
	p.run(t)
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) run(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// kill ends the process at once, as an OOM kill or a node failure does:
// no shutdown, no last fsync.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// startRedis runs a Redis as each pod of the StatefulSet runs it.
func startRedis(t *testing.T, replicaOf string) *proc {
	t.Helper()
	port := freePort(t)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", t.TempDir(), "--save", "",
		"--appendonly", "yes", "--appendfsync", "everysec", "--requirepass", password, "--masterauth", password,
		"--min-replicas-to-write", "1", "--min-replicas-max-lag", "10", "--loglevel", "warning"}
	if replicaOf != "" {
		args = append(args, "--replicaof", "127.0.0.1", replicaOf)
	}
	p := start(t, args...)
	p.port = port
	waitFor(t, 10*time.Second, "redis on "+port, func() bool {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, Password: password})
		defer c.Close()
		return c.Ping(context.Background()).Err() == nil
	})
	return p
}

// startSentinel runs a Sentinel as each pod's sentinel container runs it.
func startSentinel(t *testing.T, masterPort string) *proc {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nloglevel warning\n"+
		"sentinel monitor leap 127.0.0.1 %s 2\nsentinel auth-pass leap %s\n"+
		"sentinel down-after-milliseconds leap 1000\nsentinel failover-timeout leap 10000\nsentinel parallel-syncs leap 1\n",
		port, dir, masterPort, password)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, conf, "--sentinel")
	p.port = port
	return p
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s", what, d)
		}
	}
}

// accepted is one event that the store acknowledged, and when.
type accepted struct {
	event store.Event
	at    time.Time
}

// TestFailoverLosesNoEventBeyondTheWindow kills the master's redis-server
// (SIGKILL: no shutdown) while events stream in through the services'
// Sentinel client, and checks that every event acknowledged more than
// lossWindow before the kill is still counted on the promoted replica, that
// ingestion resumes on it, and that the old master, started again on its
// volume, rejoins as a replica rather than as a second master.
func TestFailoverLosesNoEventBeyondTheWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	master := startRedis(t, "")
	startRedis(t, master.port)
	startRedis(t, master.port)
	var sentinels []*proc
	for range 3 {
		sentinels = append(sentinels, startSentinel(t, master.port))
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + sentinels[0].port})
	defer sc.Close()
	waitFor(t, 20*time.Second, "sentinels know both replicas and each other", func() bool {
		reps, err1 := sc.Replicas(ctx, "leap").Result()
		others, err2 := sc.Sentinels(ctx, "leap").Result()
		return err1 == nil && err2 == nil && len(reps) == 2 && len(others) == 2
	})

	waitFor(t, 20*time.Second, "both replicas in sync", func() bool {
		m := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + master.port, Password: password})
		defer m.Close()
		info, err := m.Info(ctx, "replication").Result()
		return err == nil && strings.Count(info, "state=online") == 2
	})
	url := "redis://127.0.0.1:" + sentinels[0].port + "?addr=127.0.0.1:" + sentinels[1].port + "&addr=127.0.0.1:" + sentinels[2].port
	c, err := store.Open(store.Options{URL: url, Topology: store.Sentinel, SentinelMaster: "leap", Password: password,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	students := []store.Student{{ID: "s1", Name: "A", Department: "d", Course: "c", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "s2", Name: "B", Department: "d", Course: "c", Year: 1, Level: "ug", Mode: "FT"}}
	if err := store.PutStudents(ctx, c, students); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	rec := store.Recorder{Client: c, Retention: 30 * 24 * time.Hour, Now: func() time.Time { return now }}

	// Two senders, as two ingestion pods, each event sent until accepted
	// or given up on (a 503 to the source, which sends it again later).
	var (
		mu       sync.Mutex
		acked    []accepted
		refused  int
		killedAt time.Time
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := store.Event{ID: fmt.Sprintf("lms/w%d-%d", w, i), Student: students[i%2].ID, Activity: i % 4,
					Day: calendar.Day{Year: 2026, Month: 11, Day: 1 + i%20}}
				out, err := rec.Record(ctx, []store.Event{e})
				mu.Lock()
				if err == nil && out[0] == store.Counted {
					acked = append(acked, accepted{event: e, at: time.Now()})
				} else {
					refused++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, 20*time.Second, "events flow", func() bool { return count() > 300 })

	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	master.kill()
	before := count()
	waitFor(t, 30*time.Second, "a replica is promoted", func() bool {
		addr, err := sc.GetMasterAddrByName(ctx, "leap").Result()
		return err == nil && addr[1] != master.port
	})
	waitFor(t, 30*time.Second, "ingestion resumes on the new master", func() bool { return count() > before+200 })
	close(stop)
	wg.Wait()
	failoverTook := time.Since(killedAt)

	// Every acknowledged event is sent again: the store counts it once, so
	// Duplicate means it was kept and Counted means it had been lost.
	var lost []accepted
	for _, a := range acked {
		out, err := rec.Record(ctx, []store.Event{a.event})
		if err != nil {
			t.Fatal(err)
		}
		if out[0] == store.Counted {
			lost = append(lost, a)
		}
	}
	t.Logf("%d events acknowledged (%d before the kill), %d refused while failing over, %d lost; failover and resumption took %s",
		len(acked), before, refused, len(lost), failoverTook.Round(time.Millisecond))
	for _, a := range lost {
		if a.at.Before(killedAt.Add(-lossWindow)) {
			t.Errorf("event %s, acknowledged %s before the master died, was lost: beyond the documented window of %s",
				a.event.ID, killedAt.Sub(a.at).Round(time.Millisecond), lossWindow)
		}
	}

	// The old master comes back on its volume, as a restarted pod does,
	// and the Sentinels make it a replica of the new master.
	newMaster, err := sc.GetMasterAddrByName(ctx, "leap").Result()
	if err != nil {
		t.Fatal(err)
	}
	master.run(t)
	waitFor(t, 30*time.Second, "the old master rejoins as a replica", func() bool {
		old := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + master.port, Password: password})
		defer old.Close()
		info, err := old.Info(ctx, "replication").Result()
		return err == nil && containsAll(info, "role:slave", "master_port:"+newMaster[1], "master_link_status:up")
	})
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
