package xapi

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits of the statement reader.
const (
	// maxStatementBytes bounds one statement as sent; larger answers 413.
	maxStatementBytes = 64 << 10
	// maxBatchStatements bounds the statements of one request; more answers 413.
	maxBatchStatements = 1000
	// maxStatementDepth bounds the nesting of objects and arrays in a
	// statement, the statement itself being level 1; deeper answers 400.
	maxStatementDepth = 32
)

// Options configure Parse.
type Options struct {
	// Single: the body must be one statement object (PUT).
	Single bool
	// V2: the request declared xAPI 2.0, whose timestamps carry a time zone.
	V2 bool
	// MaxStatements, MaxBytes and MaxDepth are the limits; zero takes the defaults above.
	MaxStatements, MaxBytes, MaxDepth int
	// ExtKeys are context extensions whose string values a statement keeps
	// (those that can mark mobile use): Mapper.ExtKeys.
	ExtKeys []string
}

// Statement is what LEAP takes from one xAPI statement.
type Statement struct {
	// ID is the statement id, lower-case; empty when the statement had none.
	ID    string
	Actor Actor
	// Verb is verb.id.
	Verb string
	// ObjectType is object.objectType, Activity when absent.
	ObjectType string
	// ActivityType is object.definition.type of an Activity object.
	ActivityType string
	// Platform is context.platform.
	Platform string
	// Completion is result.completion: 0 absent, 1 true, -1 false.
	Completion int8
	// Timestamp, when HasTimestamp.
	Timestamp    time.Time
	HasTimestamp bool
	// Extensions are the context extensions of Options.ExtKeys that hold strings.
	Extensions []Extension
	// Fingerprint identifies the statement's content: everything but id,
	// stored, authority and version, with the differences xAPI calls
	// insignificant (order of properties, case of language tags and UUIDs,
	// the writing of a number or of a time) removed.
	Fingerprint [16]byte
}

// Actor is a statement's actor as LEAP identifies students.
type Actor struct {
	// Group: the actor is a Group.
	Group bool
	// HomePage and Name of an account.
	HomePage, Name string
	// MboxSHA1 is the mbox_sha1sum of the actor (lower-case hex), given or
	// computed from a lower-cased mbox.
	MboxSHA1 string
	// OpenID is set when the actor is known by openid only.
	OpenID bool
}

// Extension is a context extension a statement keeps, with its string value.
type Extension struct{ Key, Value string }

// Error is a body that cannot be taken, with where and why.
type Error struct {
	// Status is 400, or 413 for a limit of size.
	Status int
	// Path is the JSON path of the problem: $, $[3], $[3].actor.mbox.
	Path string
	Msg  string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// Parse reads a request body of statements: one statement object, or an
// array of them. Every error is an *Error.
func Parse(body []byte, opt Options) ([]Statement, error) {
	if opt.MaxStatements == 0 {
		opt.MaxStatements = maxBatchStatements
	}
	if opt.MaxBytes == 0 {
		opt.MaxBytes = maxStatementBytes
	}
	if opt.MaxDepth == 0 {
		opt.MaxDepth = maxStatementDepth
	}
	r := readers.Get().(*reader)
	defer func() {
		r.src, r.opt.ExtKeys = nil, nil
		readers.Put(r)
	}()
	r.src, r.pos, r.opt = body, 0, opt
	r.ws()
	if r.pos >= len(body) {
		return nil, &Error{http.StatusBadRequest, "$", "the body is empty; send a statement object or an array of statements"}
	}
	var out []Statement
	switch body[r.pos] {
	case '{':
		r.prefix = "$"
		st, err := r.readStatement()
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	case '[':
		if opt.Single {
			return nil, &Error{http.StatusBadRequest, "$", "PUT takes one statement object, not an array"}
		}
		r.pos++
		r.ws()
		if r.pos < len(body) && body[r.pos] == ']' {
			r.pos++
			out = []Statement{}
			break
		}
		for i := 0; ; i++ {
			r.prefix = "$[" + strconv.Itoa(i) + "]"
			if i >= opt.MaxStatements {
				return nil, &Error{http.StatusRequestEntityTooLarge, r.prefix, fmt.Sprintf("a request holds at most %d statements; send the rest in another", opt.MaxStatements)}
			}
			r.ws()
			if r.pos >= len(body) {
				return nil, &Error{http.StatusBadRequest, r.prefix, "the array of statements is not closed"}
			}
			if body[r.pos] != '{' {
				return nil, &Error{http.StatusBadRequest, r.prefix, "a statement must be a JSON object"}
			}
			st, err := r.readStatement()
			if err != nil {
				return nil, err
			}
			out = append(out, st)
			r.ws()
			if r.pos >= len(body) {
				return nil, &Error{http.StatusBadRequest, "$", "the array of statements is not closed"}
			}
			if body[r.pos] == ']' {
				r.pos++
				break
			}
			if body[r.pos] != ',' {
				return nil, &Error{http.StatusBadRequest, "$", fmt.Sprintf("want , or ] after statement %d at byte %d", i, r.pos)}
			}
			r.pos++
		}
	default:
		return nil, &Error{http.StatusBadRequest, "$", "want a statement object or an array of statements"}
	}
	r.ws()
	if r.pos != len(body) {
		return nil, &Error{http.StatusBadRequest, "$", fmt.Sprintf("data after the statements at byte %d", r.pos)}
	}
	return out, nil
}

// The parse tree.

type jkind uint8

const (
	jNull jkind = iota
	jFalse
	jTrue
	jNumber
	jString
	jObject
	jArray
)

var kindName = [...]string{"null", "false", "true", "a number", "a string", "an object", "an array"}

// Hints the checks leave on nodes for the fingerprint.
const (
	fLangMap   uint8 = 1 << iota // an object whose keys are language tags (case-insensitive)
	fUUID                        // a string holding a UUID (case-insensitive)
	fTimestamp                   // a string holding a timestamp (compared as an instant)
	fSkip                        // left out of the fingerprint
	fSpace                       // a string holding white space
)

type jnode struct {
	kind       jkind
	flags      uint8
	sBuf, kBuf bool  // string value, key decoded into reader.buf
	kSpace     bool  // the key holds white space
	start, end int32 // string content or number literal (in src or buf)
	kstart     int32 // key content of an object member
	kend       int32
	parent     int32
	idx        int32 // position in the parent
	first      int32 // children, linked through next
	last       int32
	next       int32
	n          int32
}

// readers keep their parse trees and buffers from request to request.
var readers = sync.Pool{New: func() any { return new(reader) }}

type reader struct {
	src    []byte
	pos    int
	opt    Options
	prefix string // path of the statement being read: $ or $[i]
	root   int    // offset where it starts
	nodes  []jnode
	buf    []byte // decoded strings that held escapes
	canon  []byte
	order  []int32
}

func (r *reader) ws() {
	for r.pos < len(r.src) {
		switch r.src[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// readStatement parses, checks and fingerprints the statement object at pos.
func (r *reader) readStatement() (Statement, error) {
	r.nodes, r.buf = r.nodes[:0], r.buf[:0]
	r.root = r.pos
	root, err := r.value(-1, 0, 0, 0, false, 1)
	if err != nil {
		return Statement{}, err
	}
	if size := r.pos - r.root; size > r.opt.MaxBytes {
		return Statement{}, &Error{http.StatusRequestEntityTooLarge, r.prefix, fmt.Sprintf("the statement is %d bytes; the limit is %d", size, r.opt.MaxBytes)}
	}
	var st Statement
	if err := r.checkStatement(root, &st); err != nil {
		return Statement{}, err
	}
	if err := r.fingerprint(root, &st); err != nil {
		return Statement{}, err
	}
	return st, nil
}

func (r *reader) alloc(parent int32, idx int32, kstart, kend int32, kBuf bool) int32 {
	r.nodes = append(r.nodes, jnode{parent: parent, idx: idx, kstart: kstart, kend: kend, kBuf: kBuf, first: -1, last: -1, next: -1})
	return int32(len(r.nodes) - 1)
}

func (r *reader) link(parent, child int32) {
	p := &r.nodes[parent]
	if p.last < 0 {
		p.first = child
	} else {
		r.nodes[p.last].next = child
	}
	p.last = child
	p.n++
}

// value parses one JSON value into a new node.
func (r *reader) value(parent, idx, kstart, kend int32, kBuf bool, depth int) (int32, error) {
	n := r.alloc(parent, idx, kstart, kend, kBuf)
	r.ws()
	if r.pos >= len(r.src) {
		return n, r.fail(n, "the JSON ends too early")
	}
	if r.pos-r.root > r.opt.MaxBytes {
		return n, &Error{http.StatusRequestEntityTooLarge, r.prefix, fmt.Sprintf("the statement is larger than %d bytes", r.opt.MaxBytes)}
	}
	switch c := r.src[r.pos]; {
	case c == '{' || c == '[':
		if depth > r.opt.MaxDepth {
			return n, r.fail(n, fmt.Sprintf("nested deeper than %d levels", r.opt.MaxDepth))
		}
		k := jArray
		if c == '{' {
			k = jObject
		}
		return n, r.parseContainer(n, depth, k)
	case c == '"':
		s, e, inBuf, space, err := r.str(n)
		if err != nil {
			return n, err
		}
		nd := &r.nodes[n]
		nd.kind, nd.start, nd.end, nd.sBuf = jString, s, e, inBuf
		if space {
			nd.flags |= fSpace
		}
		return n, nil
	case c == 't':
		return n, r.literal(n, "true", jTrue)
	case c == 'f':
		return n, r.literal(n, "false", jFalse)
	case c == 'n':
		return n, r.literal(n, "null", jNull)
	case c == '-' || (c >= '0' && c <= '9'):
		return n, r.number(n)
	default:
		return n, r.fail(n, fmt.Sprintf("unexpected %s at byte %d", quoteByte(c), r.pos))
	}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (r *reader) literal(n int32, word string, k jkind) error {
	if !bytes.HasPrefix(r.src[r.pos:], []byte(word)) {
		return r.fail(n, fmt.Sprintf("not a JSON value at byte %d", r.pos))
	}
	r.pos += len(word)
	r.nodes[n].kind = k
	return nil
}

func (r *reader) number(n int32) error {
	start := r.pos
	bad := func() error { return r.fail(n, fmt.Sprintf("malformed number at byte %d", start)) }
	if r.src[r.pos] == '-' {
		r.pos++
	}
	digits := func() int {
		s := r.pos
		for r.pos < len(r.src) && r.src[r.pos] >= '0' && r.src[r.pos] <= '9' {
			r.pos++
		}
		return r.pos - s
	}
	switch d := digits(); {
	case d == 0:
		return bad()
	case d > 1 && r.src[r.pos-d] == '0':
		return bad()
	}
	if r.pos < len(r.src) && r.src[r.pos] == '.' {
		r.pos++
		if digits() == 0 {
			return bad()
		}
	}
	if r.pos < len(r.src) && (r.src[r.pos] == 'e' || r.src[r.pos] == 'E') {
		r.pos++
		if r.pos < len(r.src) && (r.src[r.pos] == '+' || r.src[r.pos] == '-') {
			r.pos++
		}
		if digits() == 0 {
			return bad()
		}
	}
	nd := &r.nodes[n]
	nd.kind, nd.start, nd.end = jNumber, int32(start), int32(r.pos)
	return nil
}

// str reads the string at pos; content without escapes stays in src.
// space says whether it holds white space, which no IRI does.
func (r *reader) str(n int32) (start, end int32, inBuf, space bool, err error) {
	r.pos++ // the opening quote
	s := r.pos
	for {
		for r.pos < len(r.src) && plain[r.src[r.pos]] {
			r.pos++
		}
		if r.pos >= len(r.src) {
			return 0, 0, false, false, r.fail(n, "a string is not closed")
		}
		c := r.src[r.pos]
		switch {
		case c == '"':
			r.pos++
			return int32(s), int32(r.pos - 1), false, space, nil
		case c == '\\':
			start, end, space, err := r.strEscaped(n, s, space)
			return start, end, true, space, err
		case c < 0x20:
			return 0, 0, false, false, r.fail(n, "a string holds a control character; escape it")
		case c == ' ':
			space = true
			r.pos++
		case c < utf8.RuneSelf:
			r.pos++
		default:
			ru, size := utf8.DecodeRune(r.src[r.pos:])
			if ru == utf8.RuneError && size <= 1 {
				return 0, 0, false, false, r.fail(n, "a string is not valid UTF-8")
			}
			r.pos += size
		}
	}
}

// plain are the bytes a string holds as they are, with no second look:
// printable ASCII but the quote, the backslash and the space.
var plain = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// strEscaped decodes a string holding escapes into buf, from s (its content start).
func (r *reader) strEscaped(n int32, s int, space bool) (start, end int32, hasSpace bool, err error) {
	b0 := len(r.buf)
	r.buf = append(r.buf, r.src[s:r.pos]...)
	for r.pos < len(r.src) {
		c := r.src[r.pos]
		switch {
		case c == '"':
			r.pos++
			return int32(b0), int32(len(r.buf)), space, nil
		case c == '\\':
			if r.pos+1 >= len(r.src) {
				return 0, 0, false, r.fail(n, "a string is not closed")
			}
			e := r.src[r.pos+1]
			r.pos += 2
			switch e {
			case '"', '\\', '/':
				r.buf = append(r.buf, e)
			case 'b':
				r.buf = append(r.buf, '\b')
			case 'f':
				r.buf = append(r.buf, '\f')
			case 'n':
				r.buf, space = append(r.buf, '\n'), true
			case 'r':
				r.buf, space = append(r.buf, '\r'), true
			case 't':
				r.buf, space = append(r.buf, '\t'), true
			case 'u':
				ru, ok := r.hex4()
				if !ok {
					return 0, 0, false, r.fail(n, "a \\u escape needs four hex digits")
				}
				if utf16.IsSurrogate(ru) {
					lo := utf8.RuneError
					if r.pos+1 < len(r.src) && r.src[r.pos] == '\\' && r.src[r.pos+1] == 'u' {
						save := r.pos
						r.pos += 2
						if l, ok := r.hex4(); ok && utf16.DecodeRune(ru, l) != utf8.RuneError {
							lo = l
						} else {
							r.pos = save
						}
					}
					ru = utf16.DecodeRune(ru, lo)
				}
				r.buf = utf8.AppendRune(r.buf, ru)
				space = space || ru == ' ' || ru == '\t' || ru == '\n' || ru == '\r'
			default:
				return 0, 0, false, r.fail(n, fmt.Sprintf("unknown escape \\%c in a string", e))
			}
		case c < 0x20:
			return 0, 0, false, r.fail(n, "a string holds a control character; escape it")
		case c < utf8.RuneSelf:
			r.buf = append(r.buf, c)
			space = space || c == ' '
			r.pos++
		default:
			ru, size := utf8.DecodeRune(r.src[r.pos:])
			if ru == utf8.RuneError && size <= 1 {
				return 0, 0, false, r.fail(n, "a string is not valid UTF-8")
			}
			r.buf = append(r.buf, r.src[r.pos:r.pos+size]...)
			r.pos += size
		}
	}
	return 0, 0, false, r.fail(n, "a string is not closed")
}

func (r *reader) hex4() (rune, bool) {
	if r.pos+4 > len(r.src) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.src[r.pos:r.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	r.pos += 4
	return rune(v), true
}

// parseContainer parses the object or array (k) at pos into node n.
func (r *reader) parseContainer(n int32, depth int, k jkind) error {
	closing, what := byte(']'), "the array"
	if k == jObject {
		closing, what = '}', "the object"
	}
	r.nodes[n].kind = k
	r.pos++
	r.ws()
	if r.pos < len(r.src) && r.src[r.pos] == closing {
		r.pos++
		return nil
	}
	for i := int32(0); ; i++ {
		var ks, ke int32
		var kBuf, kSpace bool
		if k == jObject {
			r.ws()
			if r.pos >= len(r.src) || r.src[r.pos] != '"' {
				return r.fail(n, fmt.Sprintf("want a property name in quotes at byte %d", r.pos))
			}
			var err error
			if ks, ke, kBuf, kSpace, err = r.str(n); err != nil {
				return err
			}
			r.ws()
			if r.pos >= len(r.src) || r.src[r.pos] != ':' {
				return r.fail(n, fmt.Sprintf("want : after a property name at byte %d", r.pos))
			}
			r.pos++
		}
		child, err := r.value(n, i, ks, ke, kBuf, depth+1)
		if err != nil {
			return err
		}
		r.nodes[child].kSpace = kSpace
		r.link(n, child)
		r.ws()
		if r.pos >= len(r.src) {
			return r.fail(n, what+" is not closed")
		}
		switch r.src[r.pos] {
		case ',':
			r.pos++
		case closing:
			r.pos++
			return nil
		default:
			return r.fail(n, fmt.Sprintf("want , or %c at byte %d", closing, r.pos))
		}
	}
}

// Access to the tree.

func (r *reader) text(n int32) []byte {
	nd := &r.nodes[n]
	if nd.sBuf {
		return r.buf[nd.start:nd.end]
	}
	return r.src[nd.start:nd.end]
}

func (r *reader) key(n int32) []byte {
	nd := &r.nodes[n]
	if nd.kBuf {
		return r.buf[nd.kstart:nd.kend]
	}
	return r.src[nd.kstart:nd.kend]
}

// Paths.

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// pathOf is the JSON path of node n.
func (r *reader) pathOf(n int32) string {
	var chain []int32
	for c := n; c >= 0 && r.nodes[c].parent >= 0; c = r.nodes[c].parent {
		chain = append(chain, c)
	}
	var b strings.Builder
	b.WriteString(r.prefix)
	for i := len(chain) - 1; i >= 0; i-- {
		c := chain[i]
		if r.nodes[r.nodes[c].parent].kind == jArray {
			fmt.Fprintf(&b, "[%d]", r.nodes[c].idx)
			continue
		}
		writeKey(&b, string(r.key(c)))
	}
	return b.String()
}

func writeKey(b *strings.Builder, k string) {
	if plainKey.MatchString(k) {
		b.WriteString(".")
		b.WriteString(k)
		return
	}
	b.WriteString("[")
	b.WriteString(strconv.Quote(k))
	b.WriteString("]")
}

func (r *reader) fail(n int32, msg string) error {
	return &Error{http.StatusBadRequest, r.pathOf(n), msg}
}

// failMember reports a problem with member name of object n, present or not.
func (r *reader) failMember(n int32, name, msg string) error {
	var b strings.Builder
	b.WriteString(r.pathOf(n))
	writeKey(&b, name)
	return &Error{http.StatusBadRequest, b.String(), msg}
}
