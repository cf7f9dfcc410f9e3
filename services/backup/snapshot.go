// Package backup takes RDB snapshots of a running Redis and keeps them in
// an S3-compatible bucket, and fills an empty Redis volume from one.
//
// A snapshot is taken the way a new replica takes its first copy: SYNC
// over the network asks Redis for a point-in-time RDB of the whole
// dataset (a fork, so Redis keeps serving), which streams to the bucket
// without touching the volume of the Redis pod. The backup therefore runs
// in a pod of its own (a CronJob's), needs only the network path and the
// password that every service has, and never shares a ReadWriteOnce volume.
package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// rdbMagic starts every RDB file.
var rdbMagic = []byte("REDIS")

// maxSnapshot bounds the size announced by a server: more than this is not
// a Redis of one university's year but a broken answer.
const maxSnapshot = 1 << 40

// Snapshot asks the Redis at addr for an RDB snapshot and hands it to put
// as a reader of exactly size bytes that starts with the RDB magic. put
// must read it whole; the connection is closed afterwards.
func Snapshot(ctx context.Context, addr, password string, put func(size int64, r io.Reader) error) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to redis %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReaderSize(conn, 64<<10)
	if password != "" {
		if err := command(conn, br, "AUTH", password); err != nil {
			return fmt.Errorf("redis %s: AUTH: %w", addr, err)
		}
	}
	// rdb-only (Redis 7.0+) makes the server send the snapshot alone,
	// without following it with the replication stream. An older server
	// refuses it and sends the stream after the RDB, which is not read.
	_ = command(conn, br, "REPLCONF", "rdb-only", "1")
	if _, err := conn.Write(resp("SYNC")); err != nil {
		return fmt.Errorf("redis %s: SYNC: %w", addr, err)
	}
	size, err := ReadSyncPreamble(br)
	if err != nil {
		return fmt.Errorf("redis %s: SYNC: %w", addr, err)
	}
	head := make([]byte, len(rdbMagic))
	if _, err := io.ReadFull(br, head); err != nil {
		return fmt.Errorf("redis %s: read snapshot: %w", addr, err)
	}
	if !bytes.Equal(head, rdbMagic) {
		return fmt.Errorf("redis %s: the snapshot does not start as an RDB file (%q)", addr, head)
	}
	body := &countingReader{r: io.LimitReader(br, size-int64(len(head)))}
	if err := put(size, io.MultiReader(bytes.NewReader(head), body)); err != nil {
		return err
	}
	if body.n != size-int64(len(head)) {
		return fmt.Errorf("redis %s: snapshot cut short: %d of %d bytes", addr, body.n+int64(len(head)), size)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadSyncPreamble reads what a Redis master sends in answer to SYNC before
// the RDB payload: newlines while it writes the snapshot, then $SIZE\r\n.
// It returns SIZE. An error line or anything else is an error; the
// diskless form ($EOF:mark) is never sent to a client that, like this one,
// does not announce it can read it.
func ReadSyncPreamble(br *bufio.Reader) (int64, error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("read answer: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			continue // keep-alive while the server forks and writes
		case strings.HasPrefix(line, "-"):
			return 0, fmt.Errorf("server refused: %s", printable(line[1:]))
		case strings.HasPrefix(line, "$EOF:"):
			return 0, errors.New("server sent a diskless snapshot, which was not asked for")
		case strings.HasPrefix(line, "$"):
			n, err := strconv.ParseInt(line[1:], 10, 64)
			if err != nil || n < int64(len(rdbMagic)) || n > maxSnapshot {
				return 0, fmt.Errorf("bad snapshot size %q", printable(line[1:]))
			}
			return n, nil
		case strings.HasPrefix(line, "+"):
			continue // +FULLRESYNC or +OK of a server that sends one
		default:
			return 0, fmt.Errorf("unexpected answer %q", printable(line))
		}
	}
}

// printable cuts s short and keeps it to one line, for an error message.
func printable(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strconv.Quote(s)[1 : len(strconv.Quote(s))-1]
}

// resp encodes a command as a RESP array of bulk strings.
func resp(args ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// command sends a command and reads a simple-string answer.
func command(conn net.Conn, br *bufio.Reader, args ...string) error {
	if _, err := conn.Write(resp(args...)); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return errors.New(printable(line[1:]))
	}
	if !strings.HasPrefix(line, "+") {
		return fmt.Errorf("unexpected answer %q", printable(line))
	}
	return nil
}
