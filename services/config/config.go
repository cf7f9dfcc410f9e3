// Package config reads a service's configuration from environment
// variables, collecting every bad value into one error that names the
// variable, what was wrong and what is expected, so a pod that cannot start
// says why in one log line.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Env reads variables through Lookup (os.LookupEnv when nil).
type Env struct {
	Lookup func(string) (string, bool)
	errs   []error
}

func (e *Env) get(name string) (string, bool) {
	if e.Lookup == nil {
		return os.LookupEnv(name)
	}
	return e.Lookup(name)
}

// String is the variable's value, or def when unset or empty.
func (e *Env) String(name, def string) string {
	if v, ok := e.get(name); ok && v != "" {
		return v
	}
	return def
}

// Int is the variable as an integer in [lo, hi], or def when unset.
func (e *Env) Int(name string, def, lo, hi int) int {
	v, ok := e.get(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi))
		return def
	}
	return n
}

// Duration is the variable as a Go duration (such as 5s or 250ms) in
// [lo, hi], or def when unset.
func (e *Env) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := e.get(name)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a duration such as 5s, from %v to %v", name, v, lo, hi))
		return def
	}
	return d
}

// Bool is the variable as true/false, or def when unset.
func (e *Env) Bool(name string, def bool) bool {
	v, ok := e.get(name)
	if !ok || v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

// Required is the variable's value; its absence is an error.
func (e *Env) Required(name, what string) string {
	v, ok := e.get(name)
	if !ok || v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is not set: want %s", name, what))
	}
	return v
}

// Fail records a problem found while interpreting a value.
func (e *Env) Fail(err error) { e.errs = append(e.errs, err) }

// Err is every problem found, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("bad configuration: %w", errors.Join(e.errs...))
}
