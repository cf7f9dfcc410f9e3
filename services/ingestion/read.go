package ingestion

import (
	"bufio"
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

// readNDJSON reads one record per line, streaming: a bad line is rejected
// on its own and the stream goes on. Blank lines are skipped.
func readNDJSON(r io.Reader, emit func(i int, rec Record, err error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	i := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec Record
		var recErr error
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			rec, recErr = recordID(json.RawMessage(line)), fmt.Errorf("line is not an event object: %w", err)
		}
		if err := emit(i, rec, recErr); err != nil {
			return err
		}
		i++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: line %d is longer than %d bytes", errUnreadable, i+1, maxLine)
		}
		return err
	}
	return nil
}

// readCSV reads records from CSV with a header row naming the fields (any
// order; other columns are ignored). A row that cannot be read is rejected
// on its own.
func readCSV(r io.Reader, emit func(i int, rec Record, err error) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%w: no CSV header row: %w", errUnreadable, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"id", "student", "activity", "at"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("%w: the CSV header has no %q column (want id, student, activity, at, source)", errUnreadable, need)
		}
	}
	field := func(row []string, name string) string {
		if i, ok := col[name]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	for i := 0; ; i++ {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if err := emit(i, Record{}, fmt.Errorf("row cannot be read: %w", pe.Err)); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		rec := Record{ID: field(row, "id"), Student: field(row, "student"), Activity: field(row, "activity"), At: field(row, "at"), Source: field(row, "source")}
		if err := emit(i, rec, nil); err != nil {
			return err
		}
	}
}
