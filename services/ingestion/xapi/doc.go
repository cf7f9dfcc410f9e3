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
// JSON encoding/json accepts, with the same values.
package xapi
