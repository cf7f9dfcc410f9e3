package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// What staff write about a student, and what a student disputes.
//
//	leap:{s:ID}:notes                   LIST  notes, objectives and referrals: JSON Records, oldest first
//	leap:{s:ID}:notes:state             HASH  objective id -> JSON of its latest state change
//	leap:{s:ID}:challenges              LIST  the student's challenges of a data point: JSON Challenges, oldest first
//	leap:{s:ID}:challenges:decisions    HASH  challenge id -> JSON of the LEAP team's decision
//	leap:challenges:open                SET   "studentID/challengeID" of every challenge not yet decided
//	leap:{s:ID}:challenges:rate         INT   the student's challenges this hour (portal's rate limit)
//	leap:{s:ID}:exports                 INT   the student's downloads this hour (portal's rate limit)
//	leap:{s:ID}:audit                   STREAM the audit entries about the student (the portal's index
//	                                          of its log, so a download reads only these)
//	leap:{s:ID}:notes:v                 INT   records version: bumped in the same transaction as every
//	                                          write to the four keys above, so a page rendered from them
//	                                          can be cached under it
//
// The lists are append-only: the product never rewrites or removes an
// entry, which is what "cannot be edited or deleted" needs, and RPUSH is
// one atomic command on the student's slot. The only things that change —
// an objective's state, a challenge's outcome — live beside the lists in a
// hash keyed by the entry's id, so no write has to read, modify and put
// back a JSON document, and no Lua or WATCH is needed. Each write is one
// MULTI with the INCR of the student's records version: all the keys share
// the student's hash tag, so this holds on a Redis Cluster too, and nobody
// can read the new entry under the old version.

// RecordsKey lists what staff wrote about a student.
func RecordsKey(student string) string { return studentTag(student) + ":notes" }

// ObjectiveStatesKey holds the latest state change of each of a student's objectives.
func ObjectiveStatesKey(student string) string { return studentTag(student) + ":notes:state" }

// ChallengesKey lists a student's challenges.
func ChallengesKey(student string) string { return studentTag(student) + ":challenges" }

// AuditKey is the stream of the audit entries about a student.
func AuditKey(student string) string { return studentTag(student) + ":audit" }

// ChallengeRateKey counts a student's challenges in the current window.
func ChallengeRateKey(student string) string { return studentTag(student) + ":challenges:rate" }

// ExportsKey counts a student's downloads of their data in the current window.
func ExportsKey(student string) string { return studentTag(student) + ":exports" }

// DecisionsKey holds the decisions on a student's challenges.
func DecisionsKey(student string) string { return studentTag(student) + ":challenges:decisions" }

// RecordsVersionKey holds a student's records version: it changes whenever
// a record, an objective's state, a challenge or a decision is written.
func RecordsVersionKey(student string) string { return studentTag(student) + ":notes:v" }

// OpenChallengesKey is the LEAP team's queue: "studentID/challengeID" of
// every open challenge. It is global (no hash tag), so on a Redis Cluster it
// cannot change in one transaction with a student's keys; see AddChallenge
// and DecideChallenge for the order that keeps it safe.
const OpenChallengesKey = "leap:challenges:open"

// Kinds of Record.
const (
	KindNote      = "note"
	KindObjective = "objective"
	KindReferral  = "referral"
)

// States of an objective.
const (
	ObjectiveOpen = "open"
	ObjectiveDone = "done"
)

// States of a challenge: open until the LEAP team decides it. Accepted: the
// data point was wrong, and it is noted as such (attendance, the
// indicator: the reason says where it is put right); corrected: the count
// was put right by an Amendment, which scoring uses from then on;
// rejected: the data stand, and the reason says why.
const (
	ChallengeOpen      = "open"
	ChallengeAccepted  = "accepted"
	ChallengeCorrected = "corrected"
	ChallengeRejected  = "rejected"
)

// Errors of the record operations.
var (
	ErrNoSuchRecord     = errors.New("no such record")
	ErrNoSuchChallenge  = errors.New("no such challenge")
	ErrChallengeDecided = errors.New("the challenge is already decided")
	ErrInvalid          = errors.New("invalid")
	ErrTooManyOpen      = errors.New("too many open challenges")
	ErrUnchanged        = errors.New("already in that state")
)

// Record is something staff wrote about a student: a note, an objective
// (with a due date and a state) or a referral to a service. The student sees
// every one of them.
type Record struct {
	ID string `json:"id"`
	// Author is the roster id of the member of staff who wrote it;
	// AuthorName their name as it was then.
	Author     string    `json:"author"`
	AuthorName string    `json:"authorName"`
	Kind       string    `json:"kind"`
	Text       string    `json:"text"`
	Due        string    `json:"due,omitempty"`     // objectives: YYYY-MM-DD
	State      string    `json:"state,omitempty"`   // objectives: open or done
	Service    string    `json:"service,omitempty"` // referrals
	At         time.Time `json:"at"`
	// StateBy, StateByName and StateAt say who last changed an objective's
	// state, and when; empty while it is as it was set.
	StateBy     string    `json:"stateBy,omitempty"`
	StateByName string    `json:"stateByName,omitempty"`
	StateAt     time.Time `json:"stateAt,omitzero"`
}

// stateChange is an entry of ObjectiveStatesKey.
type stateChange struct {
	State  string    `json:"state"`
	By     string    `json:"by"`
	ByName string    `json:"byName"`
	At     time.Time `json:"at"`
}

// Challenge is a student's challenge of one data point: an activity's count
// on a day, or their indicator.
type Challenge struct {
	ID       string `json:"id"`
	Student  string `json:"student"`
	Date     string `json:"date"`     // YYYY-MM-DD
	Activity string `json:"activity"` // an activity key, or "indicator"
	Reason   string `json:"reason"`
	// State is open, accepted, corrected or rejected; DecisionReason is the
	// LEAP team's explanation, shown to the student.
	State          string    `json:"state"`
	DecisionReason string    `json:"decisionReason,omitempty"`
	At             time.Time `json:"at"`
	DecidedAt      time.Time `json:"decidedAt,omitzero"`
	// Correction is the amendment a corrected challenge made.
	Correction *Amendment `json:"correction,omitempty"`
}

// decision is an entry of DecisionsKey.
type decision struct {
	State      string     `json:"state"`
	Reason     string     `json:"reason"`
	At         time.Time  `json:"at"`
	Correction *Amendment `json:"correction,omitempty"`
}

// newID is a random record id: unguessable, so an id in a form or a URL
// says nothing about how many records exist.
func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddRecord appends a note, objective or referral to a student's records
// and returns it with its id. An objective starts open unless r.State says
// otherwise; r.At is the caller's clock.
func AddRecord(ctx context.Context, c redis.UniversalClient, student string, r Record) (Record, error) {
	switch r.Kind {
	case KindNote, KindReferral:
		r.Due, r.State = "", ""
	case KindObjective:
		if r.State == "" {
			r.State = ObjectiveOpen
		}
		if r.State != ObjectiveOpen && r.State != ObjectiveDone {
			return Record{}, fmt.Errorf("%w objective state %q", ErrInvalid, r.State)
		}
	default:
		return Record{}, fmt.Errorf("%w record kind %q", ErrInvalid, r.Kind)
	}
	r.ID = newID()
	r.StateBy, r.StateByName, r.StateAt = "", "", time.Time{}
	b, err := json.Marshal(r)
	if err != nil {
		return Record{}, err
	}
	if _, err := c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.RPush(ctx, RecordsKey(student), b)
		pipe.Incr(ctx, RecordsVersionKey(student))
		return nil
	}); err != nil {
		return Record{}, fmt.Errorf("write record of %s: %w", student, err)
	}
	return r, nil
}

// ListRecords reads a student's records, oldest first, each objective with
// its current state.
func ListRecords(ctx context.Context, c redis.UniversalClient, student string) ([]Record, error) {
	pipe := c.Pipeline()
	list := pipe.LRange(ctx, RecordsKey(student), 0, -1)
	states := pipe.HGetAll(ctx, ObjectiveStatesKey(student))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read records of %s: %w", student, err)
	}
	out := make([]Record, 0, len(list.Val()))
	for _, raw := range list.Val() {
		var r Record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, fmt.Errorf("record of %s: %w", student, err)
		}
		if s, ok := states.Val()[r.ID]; ok && r.Kind == KindObjective {
			var sc stateChange
			if err := json.Unmarshal([]byte(s), &sc); err != nil {
				return nil, fmt.Errorf("objective state of %s: %w", student, err)
			}
			r.State, r.StateBy, r.StateByName, r.StateAt = sc.State, sc.By, sc.ByName, sc.At
		}
		out = append(out, r)
	}
	return out, nil
}

// setObjectiveState writes an objective's state change unless the
// objective is in that state already, so that two people (or one in two
// tabs) marking it done at once leave one change, the first one's who and
// when. KEYS: the states hash, the records version. ARGV: the objective's
// id, the new state, the change as JSON, the state it was set with. Plain
// Lua (a pattern, not cjson), for both Redis kinds.
var setObjectiveState = redis.NewScript(`
local current = ARGV[4]
local last = redis.call('HGET', KEYS[1], ARGV[1])
if last then current = string.match(last, '"state":"(%a+)"') or '' end
if current == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[2])
return 1
`)

// SetObjectiveState marks one of a student's objectives open or done. It
// answers ErrNoSuchRecord when the student has no objective of that id,
// and ErrUnchanged, writing nothing, when the objective is in that state
// already. Records are never removed, so the objective cannot vanish
// between the check and the write.
func SetObjectiveState(ctx context.Context, c redis.UniversalClient, student, objective, state, by, byName string, at time.Time) error {
	if state != ObjectiveOpen && state != ObjectiveDone {
		return fmt.Errorf("%w objective state %q", ErrInvalid, state)
	}
	records, err := ListRecords(ctx, c, student)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(records, func(r Record) bool { return r.ID == objective && r.Kind == KindObjective })
	if i < 0 {
		return ErrNoSuchRecord
	}
	// Without a change in the hash, the state read is the one it was set
	// with; with one, the script reads the hash itself.
	initial := records[i].State
	b, err := json.Marshal(stateChange{State: state, By: by, ByName: byName, At: at})
	if err != nil {
		return err
	}
	changed, err := setObjectiveState.Run(ctx, c, []string{ObjectiveStatesKey(student), RecordsVersionKey(student)}, objective, state, b, initial).Int()
	if err != nil {
		return fmt.Errorf("write objective state of %s: %w", student, err)
	}
	if changed == 0 {
		return ErrUnchanged
	}
	return nil
}

// AddChallenge records a student's challenge, open, and queues it for the
// LEAP team, with no cap on how many may be open; see AddChallengeCapped.
func AddChallenge(ctx context.Context, c redis.UniversalClient, student string, ch Challenge) (Challenge, error) {
	return AddChallengeCapped(ctx, c, student, ch, 0)
}

// pushChallenge appends a challenge unless the student already has maxOpen
// open (maxOpen 0: no cap): open is written less decided, both keys on the
// student's slot, so the check and the write are one atomic step however
// many arrive at once. KEYS: the list, the decisions, the records version.
var pushChallenge = redis.NewScript(`
local max = tonumber(ARGV[2])
if max > 0 and redis.call('LLEN', KEYS[1]) - redis.call('HLEN', KEYS[2]) >= max then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
`)

// AddChallengeCapped records a student's challenge, open, and queues it for
// the LEAP team, or refuses it with ErrTooManyOpen when the student has
// maxOpen open already. The queue entry is written first: should the
// second write fail, the student is told so and sees no challenge, and the
// queue holds an entry that OpenChallenges passes over — whereas the other
// order could leave a challenge the student sees as open and nobody is
// asked to decide.
func AddChallengeCapped(ctx context.Context, c redis.UniversalClient, student string, ch Challenge, maxOpen int) (Challenge, error) {
	if strings.TrimSpace(ch.Reason) == "" || ch.Date == "" || ch.Activity == "" {
		return Challenge{}, fmt.Errorf("%w challenge: date, activity and reason are needed", ErrInvalid)
	}
	ch.ID, ch.Student, ch.State = newID(), student, ChallengeOpen
	ch.DecisionReason, ch.DecidedAt = "", time.Time{}
	b, err := json.Marshal(ch)
	if err != nil {
		return Challenge{}, err
	}
	entry := queueEntry(student, ch.ID)
	if err := c.SAdd(ctx, OpenChallengesKey, entry).Err(); err != nil {
		return Challenge{}, fmt.Errorf("queue challenge of %s: %w", student, err)
	}
	keys := []string{ChallengesKey(student), DecisionsKey(student), RecordsVersionKey(student)}
	added, err := pushChallenge.Run(ctx, c, keys, b, maxOpen).Int()
	if err != nil {
		return Challenge{}, fmt.Errorf("write challenge of %s: %w", student, err)
	}
	if added == 0 {
		_ = c.SRem(ctx, OpenChallengesKey, entry).Err() // OpenChallenges would pass it over anyway
		return Challenge{}, ErrTooManyOpen
	}
	return ch, nil
}

func queueEntry(student, challenge string) string { return student + "/" + challenge }

// ListChallenges reads a student's challenges, oldest first, each with its
// decision when there is one.
func ListChallenges(ctx context.Context, c redis.UniversalClient, student string) ([]Challenge, error) {
	pipe := c.Pipeline()
	list := pipe.LRange(ctx, ChallengesKey(student), 0, -1)
	decisions := pipe.HGetAll(ctx, DecisionsKey(student))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read challenges of %s: %w", student, err)
	}
	out := make([]Challenge, 0, len(list.Val()))
	for _, raw := range list.Val() {
		var ch Challenge
		if err := json.Unmarshal([]byte(raw), &ch); err != nil {
			return nil, fmt.Errorf("challenge of %s: %w", student, err)
		}
		if d, ok := decisions.Val()[ch.ID]; ok {
			var dec decision
			if err := json.Unmarshal([]byte(d), &dec); err != nil {
				return nil, fmt.Errorf("decision of %s: %w", student, err)
			}
			ch.State, ch.DecisionReason, ch.DecidedAt, ch.Correction = dec.State, dec.Reason, dec.At, dec.Correction
		}
		out = append(out, ch)
	}
	return out, nil
}

// DecideChallenge records the LEAP team's decision on a student's
// challenge without a correction: accepted or rejected (corrected needs
// one; see Decide).
func DecideChallenge(ctx context.Context, c redis.UniversalClient, student, challenge, state, reason string) error {
	_, err := Decide(ctx, c, student, challenge, Decision{State: state, Reason: reason})
	return err
}

// Decision is the LEAP team's answer to a challenge.
type Decision struct {
	// State is accepted, corrected or rejected; Reason (needed) is what
	// the student reads.
	State, Reason string
	// Correction is needed for corrected, and only then: the count (or
	// Discard) of the challenged day and activity, which Decide fills in,
	// and who made it (By, ByName).
	Correction *Amendment
}

// Decide records the LEAP team's decision on a student's challenge and,
// when it corrects the data, its amendment, in one atomic step: a
// challenge is decided once, and a second decision answers
// ErrChallengeDecided and stores nothing, even when two arrive at the same
// moment. An unknown challenge answers ErrNoSuchChallenge; a correction of
// attendance ErrAttendanceNotAmendable; anything else amiss ErrInvalid. It
// returns the amendment as stored. The caller audits who decided.
func Decide(ctx context.Context, c redis.UniversalClient, student, challenge string, d Decision) (*Amendment, error) {
	switch d.State {
	case ChallengeAccepted, ChallengeRejected:
		if d.Correction != nil {
			return nil, fmt.Errorf("%w decision: only a corrected challenge carries a correction", ErrInvalid)
		}
	case ChallengeCorrected:
		if d.Correction == nil {
			return nil, fmt.Errorf("%w decision: corrected needs the correction (a count, or discard)", ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w decision %q: want accepted, corrected or rejected", ErrInvalid, d.State)
	}
	if strings.TrimSpace(d.Reason) == "" {
		return nil, fmt.Errorf("%w decision: the student is owed a reason", ErrInvalid)
	}
	all, err := ListChallenges(ctx, c, student)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(all, func(ch Challenge) bool { return ch.ID == challenge })
	if i < 0 {
		return nil, ErrNoSuchChallenge
	}
	if all[i].State != ChallengeOpen {
		return nil, ErrChallengeDecided
	}
	now := time.Now().UTC()
	field, amendment := "", []byte{}
	var a *Amendment
	if d.Correction != nil {
		cp := *d.Correction
		a = &cp
		a.Date, a.Activity, a.Challenge, a.At = all[i].Date, all[i].Activity, challenge, now
		if a.Discard {
			a.Count = 0
		}
		if err := a.check(); err != nil {
			return nil, err
		}
		day, _ := calendar.ParseDay(a.Date)
		source, err := SourceCounts(ctx, c, student, day, day)
		if err != nil {
			return nil, err
		}
		idx, _ := v1alpha1.ActivityIndex(a.Activity)
		a.Original = source[day][idx]
		field = amendmentField(a.Date, a.Activity)
		if amendment, err = json.Marshal(a); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(decision{State: d.State, Reason: d.Reason, At: now, Correction: a})
	if err != nil {
		return nil, err
	}
	// The records version goes up even when the decision loses the race:
	// one needless re-render, never a stale page.
	keys := []string{DecisionsKey(student), AmendmentsKey(student), RecordsVersionKey(student), VersionKey(student)}
	won, err := decideScript.Run(ctx, c, keys, challenge, b, field, amendment).Int()
	if err != nil {
		return nil, fmt.Errorf("write decision of %s: %w", student, err)
	}
	if won == 0 {
		return nil, ErrChallengeDecided
	}
	// Off the queue last: should this fail, OpenChallenges sees the
	// decision and drops the entry then.
	if err := c.SRem(ctx, OpenChallengesKey, queueEntry(student, challenge)).Err(); err != nil {
		return nil, fmt.Errorf("unqueue challenge of %s: %w", student, err)
	}
	return a, nil
}

// OpenChallenges is the LEAP team's queue: every open challenge, oldest
// first, read through the OpenChallengesKey index. Entries whose challenge
// turns out decided are dropped from the index; entries whose challenge is
// not (yet) written are passed over.
func OpenChallenges(ctx context.Context, c redis.UniversalClient) ([]Challenge, error) {
	entries, err := c.SMembers(ctx, OpenChallengesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("read the challenge queue: %w", err)
	}
	queued := map[string]map[string]bool{} // student -> challenge ids
	for _, e := range entries {
		student, id, ok := strings.Cut(e, "/")
		if !ok {
			continue
		}
		if queued[student] == nil {
			queued[student] = map[string]bool{}
		}
		queued[student][id] = true
	}
	var out []Challenge
	for student, ids := range queued {
		all, err := ListChallenges(ctx, c, student)
		if err != nil {
			return nil, err
		}
		for _, ch := range all {
			switch {
			case !ids[ch.ID]:
			case ch.State == ChallengeOpen:
				out = append(out, ch)
			default:
				_ = c.SRem(ctx, OpenChallengesKey, queueEntry(student, ch.ID)).Err()
			}
		}
	}
	slices.SortFunc(out, func(a, b Challenge) int { return a.At.Compare(b.At) })
	return out, nil
}
