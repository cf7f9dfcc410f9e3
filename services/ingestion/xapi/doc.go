// Package xapi reads xAPI statements as a Learning Record Store takes
// them, and maps them to LEAP activities.
//
// Parse reads a body of statements (one statement object, or an array of
// them) as xAPI 1.0.3 and 2.0.0 define them, checks every property the
// specification defines, and says where the first problem is as a JSON
// path ($[3].actor.mbox). It keeps what LEAP uses of each statement and a
// fingerprint of the whole, so that a statement sent again can be told
// apart from a different one with the same id. A Mapper, built from the
// policy, gives each statement its activity or the reason it has none.
//
// The files follow the work: reader.go is the JSON tokenizer and its parse
// tree, validation.go the checks of xAPI's data model, fingerprint.go the
// canonical form and its hash, mapping.go the policy's table.
//
// The reader is its own JSON parser, because encoding/json can neither say
// where a problem is nor bound nesting, and because it is the hot path of
// xAPI ingestion: the parse tree lives in one slice reused from statement
// to statement, and strings without escapes are never copied. A
// differential fuzz test holds it to encoding/json: it accepts exactly the
// JSON encoding/json accepts, with the same values (but for strings that
// are not UTF-8, which it refuses).
//
// Why not jsontext (github.com/go-json-experiment/json, v0.0.0-20260213210345-44df1a37e875,
// in the module graph). A parse tree built from its tokens (names and
// scalars by ReadValue, placed by InputOffset, so that strings without
// escapes stay uncopied) was measured against this reader on 2026-11-29:
// BenchmarkXAPI, one test binary, the two alternated four times, on a
// shared 2-core machine (load average 14; runs of one kind spread 2x).
// Medians, statements/s and the ratio to native events of the same run:
//
//	10 statements a student-day: 15,758 -> 16,595 (+5%); ratio 0.387 -> 0.387
//	 1 statement a student-day:  11,024 ->  8,792 (-20%); ratio 0.423 -> 0.384 (-9%)
//
// The reader alone (BenchmarkStatementReader, three alternations): 12.0 ->
// 12.6 µs a statement, and one allocation more. The worst case does not
// hold within 10%, and syntax errors would lose their words and their
// place: jsontext names the enclosing value ("$.context.extensions:
// invalid character '1' after object value" where this reader says
// "$.context.extensions[\"http://x.example/n\"]: malformed number").
// What it would bring (the path of an error, bounded depth, no copies)
// the reader has; so the reader stays.
package xapi
