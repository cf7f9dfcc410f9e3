// Package s3test runs a real S3-compatible server for tests: Versity's S3
// gateway over a temporary folder, built from its Go module by
// `make versitygw` (hack/build-versitygw.sh) and named by $VERSITYGW, which
// the Makefile sets. Tests fail, never skip, when it is missing.
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint        string
	AccessKeyID     string
	SecretAccessKey string
	// Dir holds the buckets, one folder each.
	Dir string
}

// Start runs versitygw until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("VERSITYGW")
	if bin == "" {
		t.Fatal("VERSITYGW is not set: run the test through make (make unit or make backup-test), which builds versitygw into bin/tools and sets it")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("versitygw %s: %v (make versitygw builds it)", bin, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &Server{Endpoint: "http://" + addr, AccessKeyID: "leap-test-access", SecretAccessKey: "leap-test-secret-key", Dir: t.TempDir()}
	cmd := exec.Command(bin, "--access", s.AccessKeyID, "--secret", s.SecretAccessKey, "--quiet", "--port", addr, "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.Endpoint)
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw on %s did not answer in 20s: %v", addr, err)
		}
	}
}

// Client is a client of the server.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint[len("http://"):], &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKeyID, s.SecretAccessKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MakeBucket creates a bucket.
func (s *Server) MakeBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.Client(t).MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(fmt.Errorf("make bucket %s: %w", name, err))
	}
}
