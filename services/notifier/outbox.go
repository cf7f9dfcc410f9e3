package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kinds of message.
const (
	KindDigest   = "digest"
	KindReferral = "referral"
	KindNotice   = "notice"
)

// Message is one email, rendered when it is planned so that a retry or a
// restart sends exactly what was decided.
type Message struct {
	// ID is the idempotency key: digest/SLOT/TUTOR, referral/STUDENT/RECORD,
	// notice/STUDENT/RECORD or notice/STUDENT/decision/CHALLENGE.
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	HTML    string    `json:"html"`
	Planned time.Time `json:"planned"`
}

// States of a queued message, and of a notification decided against.
const (
	StateQueued = "queued"
	StateSent   = "sent"
	StateFailed = "failed"
	// StateNotSent is a notification that has nowhere to go (a referral
	// to a service that is not a referral target): logged, never queued.
	StateNotSent = "not sent"
)

// enqueueScript queues a message unless its key was ever queued: the key,
// not the content, decides, so planning the same notification twice (a
// restart mid-digest, two replicas) queues it once.
var enqueueScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'msg', ARGV[1], 'state', 'queued', 'attempts', 0, 'kind', ARGV[4], 'to', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1`)

// Enqueue queues m for sending now; false when its key was queued before.
func Enqueue(ctx context.Context, rdb redis.UniversalClient, m Message, now time.Time) (bool, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	n, err := enqueueScript.Run(ctx, rdb, []string{MessageKey(m.ID), DueKey}, b, now.UnixMilli(), m.ID, m.Kind, m.To).Int()
	if err != nil {
		return false, fmt.Errorf("queue %s: %w", m.ID, err)
	}
	return n == 1, nil
}

// claimScript takes a due message for one attempt: it moves its due time
// to the end of the claim, so a sender that dies mid-send leaves it to be
// tried again then, and counts the attempt. A message no longer queued
// (sent or given up by another sender) leaves the queue.
var claimScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return false end
if redis.call('HGET', KEYS[2], 'state') ~= 'queued' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local a = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
return {redis.call('HGET', KEYS[2], 'msg'), a}`)

// sentScript marks a message sent, takes it off the queue and logs it.
var sentScript = redis.NewScript(`
redis.call('HSET', KEYS[2], 'state', 'sent', 'sentAt', ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'id', ARGV[1], 'kind', ARGV[3], 'to', ARGV[4], 'at', ARGV[2], 'result', 'sent', 'attempt', ARGV[5], 'error', '')
return 1`)

// failedScript logs a failed attempt and queues the next one at ARGV[7]
// (Unix ms), or gives up when ARGV[7] is 0.
var failedScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], 'state') ~= 'queued' then return 0 end
local result = 'retrying'
if ARGV[7] == '0' then
  result = 'failed'
  redis.call('HSET', KEYS[2], 'state', 'failed', 'error', ARGV[8])
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], 'error', ARGV[8])
  redis.call('ZADD', KEYS[1], ARGV[7], ARGV[1])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'id', ARGV[1], 'kind', ARGV[3], 'to', ARGV[4], 'at', ARGV[2], 'result', result, 'attempt', ARGV[5], 'error', ARGV[8])
return 1`)

// notSentScript records, once per key, a notification that is not sent
// and why, in the send log, so that the LEAP team sees it. The key stays,
// as a sent message's does, so it is never planned again.
var notSentScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'not sent', 'kind', ARGV[2], 'to', '', 'error', ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1], 'kind', ARGV[2], 'to', '', 'at', ARGV[3], 'result', 'not sent', 'attempt', '0', 'error', ARGV[4])
return 1`)

// recordNotSent logs that notification id of kind is not sent, and why;
// false when it was decided before.
func recordNotSent(ctx context.Context, rdb redis.UniversalClient, id, kind string, at time.Time, why string) (bool, error) {
	n, err := notSentScript.Run(ctx, rdb, []string{MessageKey(id), LogKey}, id, kind, at.UTC().Format(time.RFC3339), why, logLength).Int()
	if err != nil {
		return false, fmt.Errorf("record %s as not sent: %w", id, err)
	}
	return n == 1, nil
}

// logLength is how many sends the log keeps, roughly.
const logLength = 10000

// claimed is a message taken for one attempt.
type claimed struct {
	Message
	attempt int
}

// claim takes the message id if it is due at now, holding it until until.
func claim(ctx context.Context, rdb redis.UniversalClient, id string, now, until time.Time) (*claimed, error) {
	v, err := claimScript.Run(ctx, rdb, []string{DueKey, MessageKey(id)}, id, now.UnixMilli(), until.UnixMilli()).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	raw, _ := v[0].(string)
	attempt, _ := v[1].(int64)
	c := &claimed{attempt: int(attempt)}
	if err := json.Unmarshal([]byte(raw), &c.Message); err != nil {
		return nil, fmt.Errorf("queued message %s: %w", id, err)
	}
	return c, nil
}

func markSent(ctx context.Context, rdb redis.UniversalClient, c *claimed, at time.Time) error {
	return sentScript.Run(ctx, rdb, []string{DueKey, MessageKey(c.ID), LogKey},
		c.ID, at.UTC().Format(time.RFC3339), c.Kind, c.To, c.attempt, logLength).Err()
}

// markFailed records a failed attempt; next zero gives up.
func markFailed(ctx context.Context, rdb redis.UniversalClient, c *claimed, at, next time.Time, cause error) error {
	nextMS := "0"
	if !next.IsZero() {
		nextMS = strconv.FormatInt(next.UnixMilli(), 10)
	}
	return failedScript.Run(ctx, rdb, []string{DueKey, MessageKey(c.ID), LogKey},
		c.ID, at.UTC().Format(time.RFC3339), c.Kind, c.To, c.attempt, logLength, nextMS, cause.Error()).Err()
}

// dueIDs lists up to n messages due at now.
func dueIDs(ctx context.Context, rdb redis.UniversalClient, now time.Time, n int64) ([]string, error) {
	return rdb.ZRangeByScore(ctx, DueKey, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: n}).Result()
}

// LogEntry is one line of the send log.
type LogEntry struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	To      string `json:"to"`
	At      string `json:"at"`
	Result  string `json:"result"` // sent, retrying, failed or not sent
	Attempt string `json:"attempt"`
	Error   string `json:"error,omitempty"`
}

// RecentLog is the last n sends, newest first.
func RecentLog(ctx context.Context, rdb redis.UniversalClient, n int64) ([]LogEntry, error) {
	xs, err := rdb.XRevRangeN(ctx, LogKey, "+", "-", n).Result()
	if err != nil {
		return nil, fmt.Errorf("read the send log: %w", err)
	}
	out := make([]LogEntry, 0, len(xs))
	for _, x := range xs {
		s := func(k string) string { v, _ := x.Values[k].(string); return v }
		out = append(out, LogEntry{ID: s("id"), Kind: s("kind"), To: s("to"), At: s("at"), Result: s("result"), Attempt: s("attempt"), Error: s("error")})
	}
	return out, nil
}

// RequestDigests asks the notifier to send the digests now, on behalf of
// by; the replica holding the lease picks it up within a tick. The request
// carries its time, which names the digests' slot.
func RequestDigests(ctx context.Context, rdb redis.UniversalClient, by string, now time.Time) error {
	if err := rdb.RPush(ctx, TriggerKey, digestRequest(by, now)).Err(); err != nil {
		return fmt.Errorf("ask for digests: %w", err)
	}
	return nil
}

// digestRequest is a request for the digests now as TriggerKey holds it:
// who asked ("|" made "/"), "|", and when in Unix milliseconds.
func digestRequest(by string, at time.Time) string {
	return strings.ReplaceAll(by, "|", "/") + "|" + strconv.FormatInt(at.UnixMilli(), 10)
}

// parseDigestRequest reads a request written by digestRequest; false for
// anything else, which the notifier drops. The time must be written as
// digestRequest writes it, because it names the digests' slot: two
// spellings of one time would be two slots.
func parseDigestRequest(req string) (by string, at time.Time, ok bool) {
	by, ms, found := strings.Cut(req, "|")
	if !found {
		return "", time.Time{}, false
	}
	v, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != ms {
		return "", time.Time{}, false
	}
	return by, time.UnixMilli(v), true
}
