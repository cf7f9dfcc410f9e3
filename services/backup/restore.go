package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Files of a restore in the Redis data folder.
const (
	// restoreRDB is the downloaded snapshot until it has become Redis's
	// append-only files; while it exists the restore is unfinished.
	restoreRDB = "restore.rdb"
	// AOFDir is where Redis 7 keeps its append-only files (appendonlydirname).
	AOFDir = "appendonlydir"
)

// Restore fills an empty Redis data folder from a snapshot.
type Restore struct {
	// Dir is the Redis data folder (the volume Redis runs on).
	Dir    string
	Bucket Bucket
	Object string
	// RedisServer is the redis-server binary of the same Redis that will
	// run on Dir: the snapshot is loaded by it and written out as its
	// append-only files.
	RedisServer string
}

// Outcome of a restore.
type Outcome string

// Outcomes of Run.
const (
	// Restored: the folder now holds the snapshot's data.
	Restored Outcome = "restored"
	// Kept: the folder already held data, which is never overwritten.
	Kept Outcome = "kept"
)

// Run restores the snapshot when Dir holds no data, and does nothing when
// it does: a restart of the Redis pod, or a volume that outlived its
// LeapTerm, keeps its data. A run cut short (a pod killed mid-download)
// is taken up again by the next.
//
// Redis running with appendonly yes loads its append-only files and ignores
// an RDB, so the snapshot is loaded by a private redis-server (a unix
// socket in Dir, no TCP port) that then writes it out as append-only
// files, exactly as a Redis turning AOF on does.
func (r Restore) Run(ctx context.Context) (Outcome, error) {
	pending, data, err := r.state()
	if err != nil {
		return "", err
	}
	if !pending {
		if data != "" {
			return Kept, nil
		}
		if _, err := download(ctx, r.Bucket, r.Object, filepath.Join(r.Dir, restoreRDB)); err != nil {
			return "", err
		}
	}
	// Append-only files beside a pending snapshot are from a conversion
	// cut short: Redis itself never ran on them.
	if err := os.RemoveAll(filepath.Join(r.Dir, AOFDir)); err != nil {
		return "", err
	}
	if err := r.convert(ctx); err != nil {
		return "", err
	}
	if err := os.Remove(filepath.Join(r.Dir, restoreRDB)); err != nil {
		return "", err
	}
	return Restored, syncDir(r.Dir)
}

// state reads Dir: whether a restore is pending, and the name of a file
// that shows Redis data is there ("" when none is).
func (r Restore) state() (pending bool, data string, err error) {
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return false, "", fmt.Errorf("read the Redis data folder: %w", err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == restoreRDB:
			pending = true
		case name == "lost+found", strings.HasPrefix(name, restoreRDB), name == "restore.sock":
			// a fresh filesystem's, or a restore's own leftovers
		default:
			if data == "" {
				data = name
			}
		}
	}
	return pending, data, nil
}

// convert loads restore.rdb into a private redis-server and has it write
// the data as append-only files in Dir.
func (r Restore) convert(ctx context.Context) error {
	sock := filepath.Join(r.Dir, "restore.sock")
	cmd := exec.CommandContext(ctx, r.RedisServer,
		"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", r.Dir, "--dbfilename", restoreRDB, "--appendonly", "no", "--save", "",
		"--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.RedisServer, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, MaxRetries: -1})
	defer c.Close()
	err := r.rewrite(ctx, c, exited)
	if err == nil {
		// SHUTDOWN fsyncs the append-only files; the connection closes
		// without an answer.
		_ = c.Shutdown(ctx).Err()
		select {
		case werr := <-exited:
			if werr != nil {
				err = fmt.Errorf("redis-server did not shut down cleanly: %w", werr)
			}
		case <-time.After(time.Minute):
			err = errors.New("redis-server did not shut down in a minute")
		}
	}
	if err != nil {
		_ = cmd.Process.Kill()
		if werr := <-exited; werr != nil {
			err = fmt.Errorf("%w (redis-server: %w)", err, werr)
		}
		return fmt.Errorf("load the snapshot: %w", err)
	}
	return nil
}

// rewrite waits until the snapshot is loaded, turns on append-only files,
// and waits until their first rewrite, which holds the whole dataset, is
// written.
func (r Restore) rewrite(ctx context.Context, c *redis.Client, exited <-chan error) error {
	wait := func(what string, done func() (bool, error)) error {
		for {
			ok, err := done()
			if ok {
				return nil
			}
			select {
			case werr := <-exited:
				return fmt.Errorf("redis-server exited while %s (is the snapshot from a newer Redis?): %w", what, werr)
			case <-ctx.Done():
				return fmt.Errorf("%s: %w (last: %w)", what, ctx.Err(), err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if err := wait("loading the snapshot", func() (bool, error) {
		err := c.Ping(ctx).Err()
		return err == nil, err
	}); err != nil {
		return err
	}
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		return fmt.Errorf("turn on append-only files: %w", err)
	}
	return wait("writing the append-only files", func() (bool, error) {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return false, err
		}
		f := infoFields(info)
		if f["aof_last_bgrewrite_status"] == "err" {
			return false, errors.New("the rewrite of the append-only files failed")
		}
		return f["aof_enabled"] == "1" && f["aof_rewrite_in_progress"] == "0" && f["aof_rewrite_scheduled"] == "0" &&
			f["aof_rewrites"] != "0" && f["aof_rewrites"] != "", nil
	})
}

// infoFields parses the key:value lines of INFO.
func infoFields(info string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			f[k] = v
		}
	}
	return f
}
