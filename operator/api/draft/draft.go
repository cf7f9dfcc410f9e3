// Package draft is a change of policy the LEAP team is considering: parsed
// from what the portal's form sends, turned into the LeapTerm spec it would
// give, checked with the CRD's own rules (package validation), and, once
// applied, the merge patch that writes it. The scoring service previews a
// draft with it and the portal applies one with it, so the preview shows
// exactly the policy an apply writes.
package draft

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apijson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/operator/api/validation"
)

// MaxSize bounds a draft's encoding: a whole scoring policy and 32 breaks
// take a few kilobytes.
const MaxSize = 64 << 10

// Draft is a change to the policy fields that affect scoring. Each of
// Attendance, Scoring and Breaks, when present, is a JSON merge patch
// (RFC 7386) of that field of the spec: fields it leaves out keep their
// value, a null removes one (a weight), and a list (breaks, displayOnly)
// is replaced whole.
type Draft struct {
	Attendance map[string]any `json:"attendance,omitempty"`
	Scoring    map[string]any `json:"scoring,omitempty"`
	// Breaks, when not nil, replaces spec.breaks; an empty list removes
	// every break. Breaks are the calendar, so a change applies to the
	// whole year whatever WholeYear says.
	Breaks []any `json:"breaks,omitempty"`
	// WholeYear applies the change to every day of the year, the days
	// already scored included. Without it the change applies from today,
	// and the days before keep the policy of their day (spec.policyHistory).
	WholeYear bool `json:"wholeYear,omitempty"`
}

// specPath is where a draft's fields live in the LeapTerm; errors point
// there, as the API server's do.
var specPath = field.NewPath("spec")

// Parse reads a draft. Errors are field errors at the spec path of the
// field they are about (spec.scoring.weights.tap_in), or at the root for
// a body that is not a JSON object.
func Parse(b []byte) (*Draft, field.ErrorList) {
	if len(b) > MaxSize {
		return nil, field.ErrorList{field.TooLong(field.NewPath("draft"), "", MaxSize)}
	}
	var raw map[string]any
	if err := apijson.Unmarshal(b, &raw); err != nil || raw == nil {
		return nil, field.ErrorList{field.Invalid(field.NewPath("draft"), "", "a draft is a JSON object with attendance, scoring, breaks and wholeYear: "+describe(err))}
	}
	d := &Draft{}
	var errs field.ErrorList
	for key, v := range raw {
		var target any
		switch key {
		case "attendance":
			target = &v1alpha1.Attendance{}
		case "scoring":
			target = &v1alpha1.Scoring{}
		case "breaks":
			target = &[]v1alpha1.DateRange{}
		case "wholeYear":
			target = &d.WholeYear
		default:
			errs = append(errs, field.NotSupported(field.NewPath("draft").Child(key), nil, []string{"attendance", "scoring", "breaks", "wholeYear"}))
			continue
		}
		if err := decodeStrict(v, target); err != nil {
			errs = append(errs, shapeError(key, err))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *field.Error) int { return strings.Compare(a.Field, b.Field) })
		return nil, errs
	}
	for key, v := range raw {
		switch key {
		case "attendance", "scoring":
			m, ok := v.(map[string]any)
			if v != nil && !ok {
				errs = append(errs, field.TypeInvalid(specPath.Child(key), v, "must be an object"))
			}
			if key == "attendance" {
				d.Attendance = m
			} else {
				d.Scoring = m
			}
		case "breaks":
			l, ok := v.([]any)
			if v != nil && !ok {
				errs = append(errs, field.TypeInvalid(specPath.Child(key), v, "must be a list"))
			}
			if v != nil && l == nil {
				l = []any{}
			}
			d.Breaks = l
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

func describe(err error) string {
	if err == nil {
		return "got null"
	}
	return err.Error()
}

// decodeStrict decodes a JSON value into one of the API's types, refusing
// fields the type does not have, so that a misspelt field is an error
// rather than a change that silently does nothing.
func decodeStrict(v, target any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(target)
}

// shapeError turns a decoding error of one section of the draft into a
// field error at the spec path of the field it is about.
func shapeError(section string, err error) *field.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		path := section
		if te.Field != "" {
			path += "." + te.Field
		}
		return field.TypeInvalid(pathOf(path), te.Value, "must be "+te.Type.String())
	}
	return field.Invalid(specPath.Child(section), "", strings.TrimPrefix(err.Error(), "json: "))
}

func pathOf(dotted string) *field.Path {
	p := specPath
	for _, part := range strings.Split(dotted, ".") {
		p = p.Child(part)
	}
	return p
}

// Result is what a draft gives.
type Result struct {
	// Spec is the LeapTerm spec after the change, defaulted.
	Spec map[string]any
	// Patch is the JSON merge patch of spec that makes the change: the
	// fields that differ, and only those. Empty when the draft changes
	// nothing.
	Patch map[string]any
	// Document is the policy the services would run under.
	Document policy.Document
}

// Apply works out the spec a draft gives from the current one (a LeapTerm
// spec as decoded from JSON: maps, int64), with today the day the change
// takes effect unless it is for the whole year. The result is checked by
// the CRD's rules as the API server checks an update; errs lists every
// refusal with its field path. err is for a current spec that cannot be
// read at all.
func (d *Draft) Apply(ctx context.Context, leapTerm string, current map[string]any, today calendar.Day) (res *Result, errs field.ErrorList, err error) {
	cur, err := decodeSpec(current)
	if err != nil {
		return nil, nil, fmt.Errorf("the current policy: %w", err)
	}
	// The current spec as the API server holds it: defaulted, so that
	// the patch holds what the draft changes and no default.
	base := deepCopy(current)
	if err := validation.Default(base); err != nil {
		return nil, nil, err
	}
	current = base
	next := deepCopy(current)
	if d.Attendance != nil {
		next["attendance"] = mergePatch(next["attendance"], d.Attendance)
	}
	if d.Scoring != nil {
		next["scoring"] = mergePatch(next["scoring"], d.Scoring)
	}
	if d.Breaks != nil {
		next["breaks"] = deepCopy(d.Breaks)
	}
	if err := validation.Default(next); err != nil {
		return nil, nil, err
	}
	// History is worked out from the typed spec; the check below sees it.
	if errs := validateShape(next); len(errs) > 0 {
		return nil, errs, nil
	}
	proposed, err := decodeSpec(next)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(specPath, "", err.Error())}, nil
	}
	history := d.history(cur, proposed, today)
	if !reflect.DeepEqual(history, cur.PolicyHistory) {
		h, err := toJSONValue(history)
		if err != nil {
			return nil, nil, err
		}
		if len(history) == 0 {
			delete(next, "policyHistory")
		} else {
			next["policyHistory"] = h
		}
	}
	if err := validation.Default(next); err != nil {
		return nil, nil, err
	}
	errs, err = validation.Spec(ctx, next, current)
	if err != nil {
		return nil, nil, err
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	final, err := decodeSpec(next)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(specPath, "", err.Error())}, nil
	}
	ns, name, _ := strings.Cut(leapTerm, "/")
	doc := policy.FromLeapTerm(&v1alpha1.LeapTerm{Spec: *final, ObjectMeta: objectMeta(ns, name)})
	return &Result{Spec: next, Patch: diff(current, next), Document: doc}, nil, nil
}

// validateShape refuses a spec the Go types cannot hold (a weight that is
// not a whole number), which the schema check would refuse too, so that
// the history is never worked out from a spec read half-way.
func validateShape(spec map[string]any) field.ErrorList {
	b, err := json.Marshal(spec)
	if err != nil {
		return field.ErrorList{field.Invalid(specPath, "", err.Error())}
	}
	var s v1alpha1.LeapTermSpec
	if err := json.Unmarshal(b, &s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return field.ErrorList{field.TypeInvalid(pathOf(te.Field), te.Value, "must be "+te.Type.String())}
		}
		return field.ErrorList{field.Invalid(specPath, "", err.Error())}
	}
	return nil
}

// history is spec.policyHistory after the change. For the whole year, the
// changed fields change in every entry too. From today, the policy in
// force until yesterday joins the history (a second change on the same
// day finds it there already), and entries that followed spec.scoring get
// the scoring in force now when the scoring changes, so that no day
// before today changes its score.
func (d *Draft) history(cur, next *v1alpha1.LeapTermSpec, today calendar.Day) []v1alpha1.PolicyEra {
	attChanged := !sameAttendance(cur.Attendance, next.Attendance)
	scoringChanged := !reflect.DeepEqual(normalScoring(cur.Scoring), normalScoring(next.Scoring))
	history := make([]v1alpha1.PolicyEra, 0, len(cur.PolicyHistory)+1)
	for _, h := range cur.PolicyHistory {
		history = append(history, *h.DeepCopy())
	}
	if !attChanged && !scoringChanged {
		return history
	}
	if d.WholeYear {
		for i := range history {
			if attChanged {
				history[i].Attendance = *next.Attendance.DeepCopy()
			}
			if scoringChanged {
				history[i].Scoring = nil
			}
		}
		return history
	}
	if scoringChanged {
		for i := range history {
			if history[i].Scoring == nil {
				history[i].Scoring = cur.Scoring.DeepCopy()
			}
		}
	}
	slices.SortFunc(history, func(a, b v1alpha1.PolicyEra) int { return strings.Compare(string(a.Until), string(b.Until)) })
	until := v1alpha1.Date(today.AddDays(-1).String())
	if n := len(history); n > 0 && history[n-1].Until >= until {
		return history
	}
	era := v1alpha1.PolicyEra{Until: until, Attendance: *cur.Attendance.DeepCopy()}
	if scoringChanged {
		era.Scoring = cur.Scoring.DeepCopy()
	}
	return append(history, era)
}

func sameAttendance(a, b v1alpha1.Attendance) bool {
	return a.IsEnabled() == b.IsEnabled() && a.Renormalize == b.Renormalize && a.Reason == b.Reason
}

// normalScoring orders the sets of a scoring policy, which the API holds
// unordered, so that equal policies compare equal.
func normalScoring(s v1alpha1.Scoring) v1alpha1.Scoring {
	s = *s.DeepCopy()
	slices.Sort(s.DisplayOnly)
	if len(s.DisplayOnly) == 0 {
		s.DisplayOnly = nil
	}
	return s
}

// SpecOf is the spec a policy document was made from, as far as the
// document holds it (the policy fields; not Redis, the components or the
// portal), in the form Apply takes.
func SpecOf(doc policy.Document) (map[string]any, error) {
	m, err := toJSONValue(doc)
	if err != nil {
		return nil, err
	}
	spec := m.(map[string]any)
	delete(spec, "leapTerm")
	if b, ok := spec["breaks"].([]any); ok && len(b) == 0 {
		delete(spec, "breaks")
	}
	return spec, nil
}

func decodeSpec(spec map[string]any) (*v1alpha1.LeapTermSpec, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	s := &v1alpha1.LeapTermSpec{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	return s, nil
}

// toJSONValue is v as decoded from its JSON: maps, slices and int64.
func toJSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := apijson.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// mergePatch applies an RFC 7386 merge patch to a JSON value.
func mergePatch(target any, patch map[string]any) any {
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	} else {
		t = maps.Clone(t)
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(t, k)
		case map[string]any:
			t[k] = mergePatch(t[k], pv)
		default:
			t[k] = deepCopy(pv)
		}
	}
	return t
}

// diff is the RFC 7386 merge patch that turns a into b: changed fields
// with their new value, removed ones as null.
func diff(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, bv := range b {
		av, ok := a[k]
		switch {
		case !ok:
			out[k] = bv
		case reflect.DeepEqual(av, bv):
		default:
			am, aIsMap := av.(map[string]any)
			bm, bIsMap := bv.(map[string]any)
			if aIsMap && bIsMap {
				out[k] = diff(am, bm)
			} else {
				out[k] = bv
			}
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out[k] = nil
		}
	}
	return out
}

func deepCopy[T any](v T) T {
	var out any
	switch x := any(v).(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		out = m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		out = l
	default:
		return v
	}
	return out.(T)
}

func objectMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}
