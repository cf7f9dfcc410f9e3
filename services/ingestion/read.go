package ingestion

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Record is one event as a source sent it, before any check.
type Record struct {
	ID       string `json:"id"`
	Student  string `json:"student"`
	Activity string `json:"activity"`
	At       string `json:"at"`
	Source   string `json:"source"`
}

// errUnreadable marks a body that cannot be read at all (400).
var errUnreadable = errors.New("unreadable body")

// maxLine bounds one NDJSON line or CSV row.
const maxLine = 64 << 10

// readJSONArray reads a JSON array of records element by element. A record
// that is not an object of the right shape is rejected on its own; broken
// JSON makes the whole body unreadable, and since the caller reads it all
// before storing anything, a 400 means nothing was stored.
func readJSONArray(r io.Reader, emit func(i int, rec Record, err error) error) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreadable, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%w: want a JSON array of events", errUnreadable)
	}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%w: event %d: %w", errUnreadable, i, err)
		}
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			err = fmt.Errorf("not an event object: %w", err)
			if err := emit(i, recordID(raw), err); err != nil {
				return err
			}
			continue
		}
		if err := emit(i, rec, nil); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: %w", errUnreadable, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the array", errUnreadable)
	}
	return nil
}

// recordID pulls an id out of a malformed record, so the answer can name it.
func recordID(raw json.RawMessage) Record {
	var probe struct {
		ID any `json:"id"`
	}
	_ = json.Unmarshal(raw, &probe)
	if s, ok := probe.ID.(string); ok {
		return Record{ID: s}
	}
	return Record{}
}

// errLineTooLong is the error of a line longer than maxLine.
var errLineTooLong = fmt.Errorf("line is longer than %d bytes: not read", maxLine)

// boundedLines reads r, failing with errLineTooLong (naming the line) once
// a line runs past maxLine bytes and its line ending: a reader above it
// that takes whole lines, such as encoding/csv's, never holds a longer one.
type boundedLines struct {
	r io.Reader
	// line counts the lines read whole; run is the bytes read so far of
	// the one being read.
	line, run int
}

func (b *boundedLines) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			b.line, b.run = b.line+1, 0
			continue
		}
		// The line, and the "\r" of a "\r\n" after it.
		if b.run++; b.run > maxLine+1 || (b.run == maxLine+1 && c != '\r') {
			return i, fmt.Errorf("line %d: %w", b.line+1, errLineTooLong)
		}
	}
	return n, err
}

// eachLine calls fn with each line of r that is not blank, without its
// line ending, or with errLineTooLong for a line longer than maxLine, which
// is skipped to its end unread: memory stays bounded by maxLine, and one
// bad line costs only itself. The slice is valid until fn returns.
func eachLine(r io.Reader, fn func(line []byte, err error) error) error {
	br := bufio.NewReaderSize(r, maxLine+2) // the line, "\r\n"
	for {
		line, err := br.ReadSlice('\n')
		tooLong := errors.Is(err, bufio.ErrBufferFull)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case tooLong || len(line) > maxLine:
			if ferr := fn(nil, errLineTooLong); ferr != nil {
				return ferr
			}
		case len(bytes.TrimSpace(line)) > 0:
			if ferr := fn(line, nil); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readNDJSON reads one record per line, streaming: a line that is broken,
// or longer than maxLine, is rejected on its own and the stream goes on.
// Blank lines are skipped.
func readNDJSON(r io.Reader, emit func(i int, rec Record, err error) error) error {
	i := 0
	return eachLine(r, func(line []byte, lineErr error) error {
		var rec Record
		if lineErr == nil {
			if err := json.Unmarshal(line, &rec); err != nil {
				rec, lineErr = recordID(json.RawMessage(line)), fmt.Errorf("line is not an event object: %w", err)
			}
		}
		i++
		return emit(i-1, rec, lineErr)
	})
}

// readCSV reads records from CSV with a header row naming the fields (any
// order; other columns are ignored), streaming. A record is one line:
// quoted fields may hold commas and quotes, not line breaks, so that a row
// that cannot be read (an unterminated quote, a line longer than maxLine)
// is rejected on its own and never swallows the rows after it. Blank lines
// are skipped. A header that cannot be read makes the body unreadable,
// before anything is stored.
func readCSV(r io.Reader, emit func(i int, rec Record, err error) error) error {
	var col map[string]int
	i := 0
	err := eachLine(r, func(line []byte, lineErr error) error {
		if col == nil {
			header, err := csvFields(line, lineErr)
			if err != nil {
				return fmt.Errorf("%w: the CSV header row cannot be read: %w", errUnreadable, err)
			}
			col = map[string]int{}
			for j, h := range header {
				col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = j
			}
			for _, need := range []string{"id", "student", "activity", "at"} {
				if _, ok := col[need]; !ok {
					return fmt.Errorf("%w: the CSV header has no %q column (want id, student, activity, at, source)", errUnreadable, need)
				}
			}
			return nil
		}
		i++
		row, err := csvFields(line, lineErr)
		if err != nil {
			return emit(i-1, Record{}, fmt.Errorf("row cannot be read: %w", err))
		}
		field := func(name string) string {
			if j, ok := col[name]; ok && j < len(row) {
				return strings.TrimSpace(row[j])
			}
			return ""
		}
		return emit(i-1, Record{ID: field("id"), Student: field("student"), Activity: field("activity"), At: field("at"), Source: field("source")}, nil)
	})
	if err == nil && col == nil {
		return fmt.Errorf("%w: no CSV header row", errUnreadable)
	}
	return err
}

// csvFields splits one CSV line into its fields; a line without quotes is
// split at its commas, with no parser to set up.
func csvFields(line []byte, lineErr error) ([]string, error) {
	if lineErr != nil {
		return nil, lineErr
	}
	if bytes.IndexByte(line, '"') < 0 {
		return strings.Split(string(line), ","), nil
	}
	cr := csv.NewReader(bytes.NewReader(line))
	cr.FieldsPerRecord = -1
	fields, err := cr.Read()
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, pe.Err
	}
	return fields, err
}
