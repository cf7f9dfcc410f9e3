package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// slowTimeouts are short enough for a test to watch each bound act.
var slowTimeouts = Timeouts{
	ReadHeader: 500 * time.Millisecond, MaxHeaderBytes: 4 << 10,
	Request: 3 * time.Second, Write: 500 * time.Millisecond,
	BodyGrace: 300 * time.Millisecond, BodyRate: 1000,
	Idle: 400 * time.Millisecond,
}

// bodyServer serves POST /body, which reads the whole body and reports
// how it ended, and GET /big, which writes size bytes.
func bodyServer(t *testing.T, size int) (addr string, reads chan error, writes chan error) {
	t.Helper()
	s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler), Timeouts: slowTimeouts})
	reads, writes = make(chan error, 1), make(chan error, 1)
	s.Echo.POST("/body", func(c echo.Context) error {
		n, err := io.Copy(io.Discard, c.Request().Body)
		reads <- err
		return c.String(http.StatusOK, fmt.Sprint(n))
	})
	s.Echo.GET("/big", func(c echo.Context) error {
		c.Response().WriteHeader(http.StatusOK)
		_, err := c.Response().Write(make([]byte, size))
		writes <- err
		return nil
	})
	s.Echo.GET("/work", func(c echo.Context) error {
		<-c.Request().Context().Done() // work that only a deadline ends
		return c.String(http.StatusOK, c.Request().Context().Err().Error())
	})
	sv := serve(t, s, time.Second)
	return strings.TrimPrefix(sv.api, "http://"), reads, writes
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestTrickledBodyIsCutOff: a body sent a byte at a time, slower than the
// pace, is cut off soon after the grace, not read to its end.
func TestTrickledBodyIsCutOff(t *testing.T) {
	addr, reads, _ := bodyServer(t, 0)
	conn := dial(t, addr)
	const length = 20
	fmt.Fprintf(conn, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", length)
	go func() {
		for range length {
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(250 * time.Millisecond) // 4 bytes a second: 5 s for the body
		}
	}()
	select {
	case err := <-reads:
		if !errors.Is(err, errBodyTooSlow) {
			t.Errorf("the trickled body ended with %v, want it cut off as too slow", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("a body trickled at 4 bytes a second was still being read after 4 s")
	}
}

// TestPacedBodyMayTakeLongerThanTheGrace: a body that keeps to the pace is
// read whole, although it takes several times the grace.
func TestPacedBodyMayTakeLongerThanTheGrace(t *testing.T) {
	addr, reads, _ := bodyServer(t, 0)
	conn := dial(t, addr)
	const chunks, chunk = 30, 100 // 3000 bytes at 2000 bytes a second: 1.5 s
	fmt.Fprintf(conn, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", chunks*chunk)
	for range chunks {
		if _, err := conn.Write([]byte(strings.Repeat("x", chunk))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-reads; err != nil {
		t.Fatalf("a body sent at twice the pace was cut off: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != fmt.Sprint(chunks*chunk) {
		t.Errorf("answer %d %q", resp.StatusCode, b)
	}
}

// TestIdleConnectionIsClosed: a keep-alive connection that sends nothing
// more is closed after the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr, _, _ := bodyServer(t, 0)
	conn := dial(t, addr)
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("an idle keep-alive connection: %v, want it closed (EOF) within 3 s", err)
	}
}

// TestSlowHeadersAndLargeHeaders: headers not finished in time close the
// connection; headers over the limit answer 431.
func TestSlowHeadersAndLargeHeaders(t *testing.T) {
	addr, _, _ := bodyServer(t, 0)
	conn := dial(t, addr)
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := bufio.NewReader(conn).ReadByte(); err == nil || isTimeout(err) {
		t.Errorf("unfinished headers: %v, want the connection closed within 3 s", err)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: %d, want 431", resp.StatusCode)
	}
}

// TestSlowReaderOfTheAnswerIsCutOff: a client that does not read a large
// answer holds the handler no longer than the request's deadline and the
// time to write.
func TestSlowReaderOfTheAnswerIsCutOff(t *testing.T) {
	addr, _, writes := bodyServer(t, 64<<20)
	conn := dial(t, addr)
	fmt.Fprint(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case err := <-writes:
		if err == nil {
			t.Error("64 MiB written to a client that reads nothing")
		}
	case <-time.After(slowTimeouts.Request + slowTimeouts.Write + 3*time.Second):
		t.Fatal("the write to a client that reads nothing was never cut off")
	}
}

// TestRequestWorkHasADeadline: a handler's context ends at the request
// deadline, so work that waits on it (Redis, scoring) ends too.
func TestRequestWorkHasADeadline(t *testing.T) {
	addr, _, _ := bodyServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/work", nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the work never ended: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(start); string(b) != context.DeadlineExceeded.Error() || took > slowTimeouts.Request+2*time.Second {
		t.Errorf("work ended with %q after %v, want the deadline after %v", b, took, slowTimeouts.Request)
	}
}
