package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// RosterLeaseKey is held by the one roster upload being stored. A roster
// change reads before it writes (who holds an email address, which tutor
// and department a student leaves), and its indexes live on other Cluster
// slots than the student's profile, so no single script can make it
// atomic; uploads therefore take turns, whichever replica receives them.
// They are rare (the student records system sends a few a day), so
// waiting costs nothing that matters.
const RosterLeaseKey = "leap:roster:lease"

// ErrRosterBusy is the answer when another roster upload held the lease
// for longer than a caller was prepared to wait.
var ErrRosterBusy = errors.New("another roster upload is being stored")

// Lease timings: the lease outlives a stalled holder by leaseTTL at most,
// and is renewed well before that while its holder works.
const (
	leaseTTL   = 30 * time.Second
	leaseRenew = leaseTTL / 3
	leasePoll  = 20 * time.Millisecond
)

// releaseLeaseScript and renewLeaseScript act only while the lease is the
// caller's, so a holder whose lease expired never ends or extends the next
// holder's.
const (
	releaseLeaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
	renewLeaseScript   = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`
)

// WithRosterLease runs fn while holding the roster lease, waiting for it
// at most wait (and never past ctx). It answers ErrRosterBusy when the
// lease stayed taken. A renewal that fails, which lets another upload in,
// is logged to log.
func WithRosterLease(ctx context.Context, c redis.UniversalClient, log *slog.Logger, wait time.Duration, fn func(context.Context) error) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("roster lease token: %w", err)
	}
	token := hex.EncodeToString(b[:])
	giveUp := time.NewTimer(wait)
	defer giveUp.Stop()
	for {
		ok, err := c.SetNX(ctx, RosterLeaseKey, token, leaseTTL).Result()
		if err != nil {
			return fmt.Errorf("take roster lease: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("take roster lease: %w", ctx.Err())
		case <-giveUp.C:
			return ErrRosterBusy
		case <-time.After(leasePoll):
		}
	}

	// Renew while fn runs; release after, even when the request's context
	// has ended.
	done := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(leaseRenew)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if n, err := c.Eval(ctx, renewLeaseScript, []string{RosterLeaseKey}, token, leaseTTL.Milliseconds()).Int(); err != nil || n == 0 {
					log.WarnContext(ctx, "roster lease not renewed: another upload may run at once", slog.Any("error", err))
				}
			}
		}
	}()
	defer func() {
		close(done)
		<-renewed
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = c.Eval(rctx, releaseLeaseScript, []string{RosterLeaseKey}, token).Err()
	}()
	return fn(ctx)
}
