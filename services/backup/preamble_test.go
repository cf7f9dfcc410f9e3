package backup

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadSyncPreamble(t *testing.T) {
	for in, want := range map[string]int64{
		"$1234\r\n":                   1234,
		"\n\n\n$88\r\n":               88,
		"+FULLRESYNC abc 0\r\n$9\r\n": 9,
	} {
		got, err := ReadSyncPreamble(bufio.NewReader(strings.NewReader(in)))
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"-NOAUTH Authentication required.\r\n":     "server refused: NOAUTH",
		"$EOF:" + strings.Repeat("a", 40) + "\r\n": "diskless",
		"$-1\r\n":                   "bad snapshot size",
		"$3\r\n":                    "bad snapshot size",
		"$99999999999999999999\r\n": "bad snapshot size",
		"*1\r\n":                    "unexpected answer",
		"\n\n":                      "read answer",
	} {
		_, err := ReadSyncPreamble(bufio.NewReader(strings.NewReader(in)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", in, err, want)
		}
	}
}

// FuzzReadSyncPreamble: whatever a server (or something posing as one)
// sends, the preamble reader returns a size within bounds or an error.
func FuzzReadSyncPreamble(f *testing.F) {
	for _, s := range []string{"$1234\r\n", "\n\n$88\r\n", "-ERR no\r\n", "$EOF:x\r\n", "+OK\r\n$9\r\n", "$-5\r\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := ReadSyncPreamble(bufio.NewReader(strings.NewReader(in)))
		if err == nil && (n < int64(len(rdbMagic)) || n > maxSnapshot) {
			t.Fatalf("%q: size %d out of bounds", in, n)
		}
		if err != nil && strings.ContainsAny(printable(in), "\r\n") {
			t.Fatalf("printable kept a line break")
		}
	})
}
