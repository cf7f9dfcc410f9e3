package xapi

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkStatementReader is the reader alone on a batch of 500
// Moodle-shaped statements: parse, every check, fingerprint.
func BenchmarkStatementReader(b *testing.B) {
	f, err := os.ReadFile(filepath.Join("testdata", "bench_statement.fmt"))
	if err != nil {
		b.Fatal(err)
	}
	format := strings.TrimSpace(string(f))
	const batch = 500
	var x strings.Builder
	x.WriteString("[")
	for i := range batch {
		if i > 0 {
			x.WriteString(",")
		}
		fmt.Fprintf(&x, format, fmt.Sprintf("%08x-0000-4000-8000-%012x", 1, i), "st00001", "st00001", 300+i%50, i/60%60, i%60)
	}
	x.WriteString("]")
	body := []byte(x.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(body, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/statement")
}
