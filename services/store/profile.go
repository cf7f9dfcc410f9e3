package store

import "strconv"

// StudentFromProfile reads a student from the fields of their ProfileKey
// hash, as read by HGETALL in a caller's own pipeline; ok is false for an
// empty hash: a student not in the roster. GetStudent is the one-call form.
func StudentFromProfile(m map[string]string) (s Student, ok bool) {
	if len(m) == 0 {
		return Student{}, false
	}
	year, _ := strconv.Atoi(m["year"])
	exchange, _ := strconv.ParseBool(m["exchange"])
	return Student{
		ID: m["id"], Name: m["name"], Email: m["email"], Department: m["department"], Course: m["course"],
		Year: year, Level: m["level"], Mode: m["mode"], Exchange: exchange, Tutor: m["tutor"],
	}, true
}
