package main

import (
	"testing"
	"time"
)

func TestLocalClock(t *testing.T) {
	real := time.Now()
	clock, err := localClock("", real)
	if err != nil || time.Until(clock()).Abs() > time.Second {
		t.Fatalf("no LEAP_LOCAL_NOW: %v, want the real time", err)
	}
	clock, err = localClock("2026-10-24T11:00:00+01:00", real)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 10, 24, 10, 0, 0, 0, time.UTC)
	if got := clock(); got.Before(want) || got.Sub(want) > time.Minute {
		t.Errorf("clock %v, want from %v on", got, want)
	}
	if _, err := localClock("2026-10-24 11:00", real); err != nil {
		t.Errorf("YYYY-MM-DD HH:MM: %v", err)
	}
	for _, bad := range []string{"saturday", "2026-10-24", "2026-13-01 10:00", "24/10/2026 11:00", "2026-10-24T11:00"} {
		if _, err := localClock(bad, real); err == nil {
			t.Errorf("LEAP_LOCAL_NOW=%q taken", bad)
		}
	}
}

func FuzzLocalClock(f *testing.F) {
	for _, s := range []string{"", "2026-10-24T11:00:00Z", "2026-10-24 11:00", "x"} {
		f.Add(s)
	}
	real := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		clock, err := localClock(s, real)
		if (err == nil) != (clock != nil) {
			t.Fatalf("%q: clock %v and error %v", s, clock != nil, err)
		}
	})
}
