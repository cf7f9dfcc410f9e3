// Command leap-backup takes RDB snapshots of LEAP's Managed Redis into an
// S3-compatible bucket and restores them into an empty Redis volume. The
// operator runs it: `backup` in the CronJob of spec.redis.backup,
// `install` and `restore` as init containers of a Redis that
// spec.redis.restoreFrom starts from a snapshot.
//
// Credentials come from the environment, never from flags (which any
// process listing shows): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and
// REDIS_PASSWORD for backup.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/leap-dev/leap/services/backup"
)

const usage = `usage:
  leap-backup backup  --redis-addr HOST:PORT --endpoint URL --bucket B [--region R] --prefix P [--object NAME] --retention N
  leap-backup restore --dir DIR --endpoint URL --bucket B [--region R] --object NAME [--redis-server PATH]
  leap-backup install PATH   (copies this binary to PATH, for a container of another image to run)`

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, log, os.Args[1:], os.Getenv)
	stop()
	if err != nil {
		log.Error("leap-backup failed", "error", err.Error())
		// The Job's pod shows the reason in its status (terminationMessagePolicy).
		_ = os.WriteFile("/dev/termination-log", []byte(err.Error()), 0o644)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("leap-backup "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var b backup.Bucket
	fs.StringVar(&b.Endpoint, "endpoint", "", "S3 endpoint, http(s)://host[:port]")
	fs.StringVar(&b.Name, "bucket", "", "bucket")
	fs.StringVar(&b.Region, "region", "", "bucket region (us-east-1 when empty)")
	b.AccessKeyID, b.SecretAccessKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch args[0] {
	case "backup":
		job := backup.Backup{RedisPassword: getenv("REDIS_PASSWORD")}
		fs.StringVar(&job.RedisAddr, "redis-addr", "", "Redis host:port")
		fs.StringVar(&job.Prefix, "prefix", "", "prefix of this Redis's snapshots")
		fs.StringVar(&job.Object, "object", "", "snapshot name (PREFIX + $JOB_NAME.rdb, else PREFIX + the time, when empty)")
		fs.IntVar(&job.Retention, "retention", 7, "snapshots kept under the prefix")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		job.Bucket = b
		if job.RedisAddr == "" {
			return errors.New("backup: --redis-addr is required")
		}
		if job.Object == "" {
			job.Object = ObjectName(job.Prefix, getenv("JOB_NAME"), time.Now())
		}
		start := time.Now()
		size, err := job.Run(ctx)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		log.Info("snapshot uploaded", "bucket", b.Name, "object", job.Object, "bytes", size, "seconds", time.Since(start).Seconds())
		return nil
	case "restore":
		r := backup.Restore{}
		fs.StringVar(&r.Dir, "dir", "/data", "Redis data folder")
		fs.StringVar(&r.Object, "object", "", "snapshot to restore")
		fs.StringVar(&r.RedisServer, "redis-server", "redis-server", "redis-server of the Redis that runs on --dir")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		r.Bucket = b
		if r.Object == "" {
			return errors.New("restore: --object is required")
		}
		out, err := r.Run(ctx)
		if err != nil {
			return fmt.Errorf("restore %s from bucket %s: %w", r.Object, b.Name, err)
		}
		if out == backup.Kept {
			log.Info("the Redis volume holds data already; nothing restored", "dir", r.Dir)
			return nil
		}
		log.Info("snapshot restored", "bucket", b.Name, "object", r.Object, "dir", r.Dir)
		return nil
	case "install":
		if len(args) != 2 {
			return errors.New(usage)
		}
		return install(args[1])
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usage)
	}
	return nil
}

// ObjectName is the name of a snapshot: under prefix, named after the Job
// that took it (which the operator reads back into status.lastBackup), or
// after the time when no Job runs it.
func ObjectName(prefix, job string, now time.Time) string {
	if job == "" {
		job = now.UTC().Format("20060102T150405Z")
	}
	return prefix + job + backup.SnapshotSuffix
}

// install copies this binary to path, executable.
func install(path string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("install %s: %w", path, err)
	}
	return out.Close()
}
