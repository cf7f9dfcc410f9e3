package backup_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/backup"
	"github.com/leap-dev/leap/services/internal/s3test"
	"github.com/leap-dev/leap/services/portal"
	"github.com/leap-dev/leap/services/store"
)

const password = "backup-test-password"

// theYear writes a small year through the services' own store: a roster,
// counted events over several days, notes and objectives, audit entries.
func theYear(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	students := []store.Student{
		{ID: "s1", Name: "Ada", Department: "maths", Course: "MA", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "s2", Name: "Brian", Department: "physics", Course: "PH", Year: 2, Level: "ug", Mode: "PT"},
	}
	if err := store.PutStudents(ctx, c, students); err != nil {
		t.Fatal(err)
	}
	rec := store.Recorder{Client: c, Retention: 90 * 24 * time.Hour, Now: func() time.Time { return time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC) }}
	var events []store.Event
	for i := range 60 {
		events = append(events, store.Event{ID: fmt.Sprintf("vle/%d", i), Student: students[i%2].ID, Activity: i % 3, Day: calendar.Day{Year: 2026, Month: 11, Day: 1 + i%15}})
	}
	out, err := rec.Record(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o != store.Counted {
			t.Fatalf("event %d: outcome %v, want counted", i, o)
		}
	}
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	for _, r := range []store.Record{
		{Author: "t1", AuthorName: "Dr Tutor", Kind: store.KindNote, Text: "Met to talk about the first assignment.", At: at},
		{Author: "t1", AuthorName: "Dr Tutor", Kind: store.KindObjective, Text: "Hand in the lab report", Due: "2026-12-01", At: at},
		{Author: "t1", AuthorName: "Dr Tutor", Kind: store.KindReferral, Text: "Study skills", Service: "library", At: at},
	} {
		if _, err := store.AddRecord(ctx, c, "s1", r); err != nil {
			t.Fatal(err)
		}
	}
	for i, what := range []string{"viewed s1", "added a note about s1", "exported s1"} {
		values := map[string]any{"who": "t1", "role": "tutor", "whom": "s1", "what": what, "at": at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano)}
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: portal.AuditStream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: store.AuditKey("s1"), Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// readYear reads the year back through the same store functions and streams
// the portal reads.
type year struct {
	Counts  map[string]map[calendar.Day]store.Counts
	Records []store.Record
	Audit   []redis.XMessage
	Student []redis.XMessage
	Roster  []store.Student
}

func readYear(t *testing.T, c redis.UniversalClient) year {
	t.Helper()
	ctx := context.Background()
	y := year{Counts: map[string]map[calendar.Day]store.Counts{}}
	for _, id := range []string{"s1", "s2"} {
		counts, err := store.StudentCounts(ctx, c, id, calendar.Day{Year: 2026, Month: 11, Day: 1}, calendar.Day{Year: 2026, Month: 11, Day: 30})
		if err != nil {
			t.Fatal(err)
		}
		y.Counts[id] = counts
		s, ok, err := store.GetStudent(ctx, c, id)
		if err != nil || !ok {
			t.Fatalf("student %s: ok=%v err=%v", id, ok, err)
		}
		y.Roster = append(y.Roster, s)
	}
	var err error
	if y.Records, err = store.ListRecords(ctx, c, "s1"); err != nil {
		t.Fatal(err)
	}
	if y.Audit, err = c.XRange(ctx, portal.AuditStream, "-", "+").Result(); err != nil {
		t.Fatal(err)
	}
	if y.Student, err = c.XRange(ctx, store.AuditKey("s1"), "-", "+").Result(); err != nil {
		t.Fatal(err)
	}
	return y
}

// dump is every key with its type, its value in a canonical form (a set's
// members sorted: a set has no order) and whether it expires: the whole
// dataset, to compare.
func dump(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		typ := c.Type(ctx, k).Val()
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, k).Result()
		case "hash":
			v, err = c.HGetAll(ctx, k).Result()
		case "list":
			v, err = c.LRange(ctx, k, 0, -1).Result()
		case "set":
			var m []string
			m, err = c.SMembers(ctx, k).Result()
			slices.Sort(m)
			v = m
		case "zset":
			v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = c.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s of type %s", k, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		out[k] = fmt.Sprintf("%s %v expires=%v", typ, v, c.PTTL(ctx, k).Val() > 0)
	}
	return out
}

func client(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The test: back up a live Redis, lose it and its volume, restore
// into a new one, and read the same engagement, notes and audit entries
// back. Every part is real: redis-server with a password and AOF as the
// operator runs it, versitygw as the bucket, the leap-backup code paths.
func TestBackupThenRestoreIntoANewVolume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s3 := s3test.Start(t)
	s3.MakeBucket(t, "leap-backups")
	bucket := backup.Bucket{Endpoint: s3.Endpoint, Name: "leap-backups", AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey}

	srcDir := t.TempDir()
	src := startOn(t, lookRedisServer(t), srcDir)
	theYear(t, client(t, src))
	want := readYear(t, client(t, src))
	wantKeys := dump(t, client(t, src))
	if len(want.Records) != 3 || len(want.Audit) != 3 || len(want.Counts["s1"]) == 0 {
		t.Fatalf("the year was not written: %+v", want)
	}

	job := backup.Backup{RedisAddr: src, RedisPassword: password, Bucket: bucket,
		Prefix: "uni/leap-2026/", Object: "uni/leap-2026/leap-2026-backup-1.rdb", Retention: 2}
	size, err := job.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if size < 100 {
		t.Fatalf("snapshot of %d bytes", size)
	}
	// The Redis and its volume are gone.
	stopOn(src)
	if err := os.RemoveAll(srcDir); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err) // a fresh ext4 volume has one; it is not data
	}
	redisServer := lookRedisServer(t)
	r := backup.Restore{Dir: dir, Bucket: bucket, Object: job.Object, RedisServer: redisServer}
	out, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out != backup.Restored {
		t.Fatalf("outcome %q, want restored", out)
	}
	if left := files(t, dir); !slices.Equal(left, []string{backup.AOFDir, "lost+found"}) {
		t.Fatalf("the data folder holds %v after the restore, want the append-only files alone", left)
	}

	// Redis starts on the volume exactly as the operator starts it.
	dst := startOn(t, redisServer, dir)
	got := readYear(t, client(t, dst))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored year differs:\n got %+v\nwant %+v", got, want)
	}
	if gotKeys := dump(t, client(t, dst)); !reflect.DeepEqual(gotKeys, wantKeys) {
		for k, v := range wantKeys {
			if gotKeys[k] != v {
				t.Errorf("key %s: restored %q, want %q", k, gotKeys[k], v)
			}
		}
		t.Fatalf("restored %d keys, want the %d of the snapshot", len(gotKeys), len(wantKeys))
	}

	// A restart with the restore still configured keeps what Redis wrote
	// since: the volume is never overwritten.
	if err := client(t, dst).Set(ctx, "written-after-restore", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stopOn(dst)
	if out, err := r.Run(ctx); err != nil || out != backup.Kept {
		t.Fatalf("restore over live data: outcome %q, err %v; want kept", out, err)
	}
	dst = startOn(t, redisServer, dir)
	if v, err := client(t, dst).Get(ctx, "written-after-restore").Result(); err != nil || v != "1" {
		t.Fatalf("data written after the restore: %q, %v", v, err)
	}
}

func TestRetentionKeepsTheNewest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s3 := s3test.Start(t)
	s3.MakeBucket(t, "keep")
	bucket := backup.Bucket{Endpoint: s3.Endpoint, Name: "keep", AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey}
	src := startOn(t, lookRedisServer(t), t.TempDir())
	c := s3.Client(t)
	// Another term's snapshot and a file that is no snapshot share the bucket.
	for _, name := range []string{"other/x.rdb", "uni/a/README"} {
		if _, err := c.PutObject(ctx, "keep", name, strings.NewReader("REDIS0011"), 9, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 4; i++ {
		job := backup.Backup{RedisAddr: src, RedisPassword: password, Bucket: bucket, Prefix: "uni/a/",
			Object: fmt.Sprintf("uni/a/b-%d.rdb", i), Retention: 2}
		if _, err := job.Run(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // S3 times have a second's precision
	}
	var names []string
	for o := range c.ListObjects(ctx, "keep", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		names = append(names, o.Key)
	}
	slices.Sort(names)
	if want := []string{"other/x.rdb", "uni/a/README", "uni/a/b-3.rdb", "uni/a/b-4.rdb"}; !slices.Equal(names, want) {
		t.Fatalf("bucket holds %v, want %v", names, want)
	}
}

func TestBackupFailsClearly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s3 := s3test.Start(t)
	s3.MakeBucket(t, "bkt")
	src := startOn(t, lookRedisServer(t), t.TempDir())
	good := backup.Bucket{Endpoint: s3.Endpoint, Name: "bkt", AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey}
	for name, tc := range map[string]struct {
		job  backup.Backup
		want string
	}{
		"wrong password": {backup.Backup{RedisAddr: src, RedisPassword: "nope", Bucket: good, Prefix: "p/", Object: "p/x.rdb", Retention: 1}, "AUTH"},
		"no such bucket": {backup.Backup{RedisAddr: src, RedisPassword: password, Bucket: backup.Bucket{Endpoint: s3.Endpoint, Name: "missing", AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey}, Prefix: "p/", Object: "p/x.rdb", Retention: 1}, "bucket missing"},
		"wrong secret":   {backup.Backup{RedisAddr: src, RedisPassword: password, Bucket: backup.Bucket{Endpoint: s3.Endpoint, Name: "bkt", AccessKeyID: s3.AccessKeyID, SecretAccessKey: "wrong"}, Prefix: "p/", Object: "p/x.rdb", Retention: 1}, "upload p/x.rdb"},
		"object outside": {backup.Backup{RedisAddr: src, RedisPassword: password, Bucket: good, Prefix: "p/", Object: "q/x.rdb", Retention: 1}, "must lie under the prefix"},
		"bad endpoint":   {backup.Backup{RedisAddr: src, RedisPassword: password, Bucket: backup.Bucket{Endpoint: "ftp://x", Name: "bkt", AccessKeyID: "a", SecretAccessKey: "b"}, Prefix: "p/", Object: "p/x.rdb", Retention: 1}, "want http(s)://host[:port]"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.job.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestRestoreRefusesWhatIsNoSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s3 := s3test.Start(t)
	s3.MakeBucket(t, "bkt")
	if _, err := s3.Client(t).PutObject(ctx, "bkt", "notes.txt", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := backup.Restore{Dir: dir, Object: "notes.txt", RedisServer: lookRedisServer(t),
		Bucket: backup.Bucket{Endpoint: s3.Endpoint, Name: "bkt", AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey}}
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "not an RDB snapshot") {
		t.Fatalf("error %v, want not an RDB snapshot", err)
	}
	if left := files(t, dir); len(left) != 0 {
		t.Fatalf("a refused restore left %v in the volume", left)
	}
	r.Object = "missing.rdb"
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "missing.rdb") {
		t.Fatalf("error %v, want one naming the missing object", err)
	}
}

func lookRedisServer(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (apt-get install redis-server; .ci/run does): %v", err)
	}
	return p
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}
