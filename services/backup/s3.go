package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Bucket is a bucket of an S3-compatible object store.
type Bucket struct {
	// Endpoint is http(s)://host[:port].
	Endpoint        string
	Name            string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
}

// client connects to the bucket's store. Path-style addressing: the
// S3-compatible stores a university runs seldom have a DNS name per bucket.
func (b Bucket) client() (*minio.Client, error) {
	u, err := url.Parse(b.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.User != nil {
		return nil, fmt.Errorf("S3 endpoint %q: want http(s)://host[:port]", b.Endpoint)
	}
	if b.Name == "" {
		return nil, errors.New("S3 bucket: no name")
	}
	if b.AccessKeyID == "" || b.SecretAccessKey == "" {
		return nil, errors.New("S3 credentials: the access key id or the secret access key is empty")
	}
	region := b.Region
	if region == "" {
		region = "us-east-1"
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(b.AccessKeyID, b.SecretAccessKey, ""),
		Secure:       u.Scheme == "https",
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %w", b.Endpoint, err)
	}
	return c, nil
}

// Backup is one scheduled run: a snapshot of a Redis uploaded to a bucket.
type Backup struct {
	RedisAddr     string
	RedisPassword string
	Bucket        Bucket
	// Object is the snapshot's name; it should start with Prefix.
	Object string
	// Prefix holds this Redis's snapshots, and only them: retention deletes
	// the oldest objects under it.
	Prefix string
	// Retention is how many snapshots under Prefix are kept (at least 1).
	Retention int
}

// Run takes the snapshot, uploads it, then deletes the oldest snapshots
// under Prefix beyond Retention. It returns the upload's size. A failed
// upload deletes nothing.
func (b Backup) Run(ctx context.Context) (int64, error) {
	if b.Retention < 1 {
		return 0, fmt.Errorf("retention %d: keep at least one snapshot", b.Retention)
	}
	if b.Object == "" || !strings.HasPrefix(b.Object, b.Prefix) {
		return 0, fmt.Errorf("object %q must lie under the prefix %q, where retention counts it", b.Object, b.Prefix)
	}
	c, err := b.Bucket.client()
	if err != nil {
		return 0, err
	}
	var size int64
	err = Snapshot(ctx, b.RedisAddr, b.RedisPassword, func(n int64, r io.Reader) error {
		info, err := c.PutObject(ctx, b.Bucket.Name, b.Object, r, n, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			return fmt.Errorf("upload %s to bucket %s: %w", b.Object, b.Bucket.Name, err)
		}
		size = info.Size
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := b.prune(ctx, c); err != nil {
		return size, err
	}
	return size, nil
}

// prune deletes the oldest snapshots under Prefix beyond Retention, oldest
// by upload time, then by name. The snapshot just uploaded is the newest,
// so it is never among them.
func (b Backup) prune(ctx context.Context, c *minio.Client) error {
	var objects []minio.ObjectInfo
	for o := range c.ListObjects(ctx, b.Bucket.Name, minio.ListObjectsOptions{Prefix: b.Prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list %s in bucket %s: %w", b.Prefix, b.Bucket.Name, o.Err)
		}
		if strings.HasSuffix(o.Key, SnapshotSuffix) {
			objects = append(objects, o)
		}
	}
	sort.Slice(objects, func(i, j int) bool {
		if !objects[i].LastModified.Equal(objects[j].LastModified) {
			return objects[i].LastModified.After(objects[j].LastModified)
		}
		return objects[i].Key > objects[j].Key
	})
	for _, o := range objects[min(b.Retention, len(objects)):] {
		if o.Key == b.Object {
			continue
		}
		if err := c.RemoveObject(ctx, b.Bucket.Name, o.Key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("delete the old snapshot %s: %w", o.Key, err)
		}
	}
	return nil
}

// SnapshotSuffix ends the name of every snapshot; retention counts only
// objects with it, so other files under the prefix are left alone.
const SnapshotSuffix = ".rdb"

// download writes object into path through a temporary file beside it,
// synced before the rename, so that path holds a whole snapshot or nothing.
func download(ctx context.Context, b Bucket, object, path string) (int64, error) {
	c, err := b.client()
	if err != nil {
		return 0, err
	}
	obj, err := c.GetObject(ctx, b.Name, object, minio.GetObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("download %s from bucket %s: %w", object, b.Name, err)
	}
	defer obj.Close()
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	n, err := io.Copy(f, obj)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("download %s from bucket %s: %w", object, b.Name, err)
	}
	if err := checkRDB(tmp); err != nil {
		return 0, fmt.Errorf("object %s of bucket %s: %w", object, b.Name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	return n, syncDir(filepath.Dir(path))
}

// checkRDB refuses a file that is not an RDB snapshot: restoring one would
// start a Redis that refuses to load, or worse, an empty one.
func checkRDB(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(rdbMagic))
	if _, err := io.ReadFull(f, head); err != nil || string(head) != string(rdbMagic) {
		return errors.New("not an RDB snapshot (it does not start with REDIS)")
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
