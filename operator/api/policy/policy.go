// Package policy is the policy document: the effective policy of one
// LeapTerm, written by the operator into a ConfigMap as JSON and read by
// every service. It is defined once, here, from the LeapTerm API types.
package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// FileName is the key of the document in the policy ConfigMap, and so the
// name of the file where the services find it.
const FileName = "policy.json"

// Document is the effective policy a service runs under. Everything in it
// changes scores, alerts or what people see; the size of the deployment
// (replicas, images) is deliberately absent, so scaling a component never
// changes the policy hash and never rolls the pods.
type Document struct {
	// LeapTerm is "namespace/name" of the LeapTerm the policy comes from.
	LeapTerm   string               `json:"leapTerm"`
	Timezone   string               `json:"timezone"`
	Terms      []v1alpha1.DateRange `json:"terms"`
	Breaks     []v1alpha1.DateRange `json:"breaks"`
	Attendance v1alpha1.Attendance  `json:"attendance"`
	Scoring    v1alpha1.Scoring     `json:"scoring"`
	// PolicyHistory holds the policies in force before Attendance and
	// Scoring, ordered by the day each ended. Absent (as from an operator
	// older than policy history) when there are none, so that such a
	// policy keeps its hash.
	PolicyHistory []v1alpha1.PolicyEra `json:"policyHistory,omitempty"`
	Privacy       v1alpha1.Privacy     `json:"privacy"`
	// XAPI maps xAPI statements to activities. A document without it (from
	// an operator older than xAPI) maps nothing: services apply no defaults
	// of their own, so the document is the whole policy.
	XAPI v1alpha1.XAPI `json:"xapi"`
	// Referrals are spec.notifications.referralTargets: the services staff
	// may refer a student to, and no others, each with the address the
	// notifier mails its referrals to. The rest of spec.notifications (the
	// mail server, the schedule) is the notifier's alone. Under the spec's
	// own name, so that the document stays a part of a spec (see
	// draft.SpecOf); absent when there are none, so that such a policy
	// keeps its hash.
	Referrals *Referrals `json:"notifications,omitempty"`
}

// Referrals is the part of spec.notifications every service reads.
type Referrals struct {
	ReferralTargets []v1alpha1.ReferralTarget `json:"referralTargets"`
}

// ReferralServices are the names of the referral targets, in the
// LeapTerm's order: what the portal's referral form offers.
func (d Document) ReferralServices() []string {
	if d.Referrals == nil {
		return nil
	}
	out := make([]string, 0, len(d.Referrals.ReferralTargets))
	for _, t := range d.Referrals.ReferralTargets {
		out = append(out, t.Service)
	}
	return out
}

// ReferralAddress is where referrals to service go; false when service is
// not a referral target.
func (d Document) ReferralAddress(service string) (string, bool) {
	if d.Referrals == nil {
		return "", false
	}
	for _, t := range d.Referrals.ReferralTargets {
		if t.Service == service {
			return t.Email, true
		}
	}
	return "", false
}

// FromLeapTerm builds the policy document of a defaulted LeapTerm.
func FromLeapTerm(t *v1alpha1.LeapTerm) Document {
	s := t.Spec.DeepCopy()
	d := Document{
		LeapTerm:   t.Namespace + "/" + t.Name,
		Timezone:   s.Timezone,
		Terms:      s.Terms,
		Breaks:     s.Breaks,
		Attendance: s.Attendance,
		Scoring:    s.Scoring,
		Privacy:    s.Privacy,
		XAPI:       s.XAPI,
	}
	if d.Breaks == nil {
		d.Breaks = []v1alpha1.DateRange{}
	}
	d.PolicyHistory = s.PolicyHistory
	if s.Notifications != nil && len(s.Notifications.ReferralTargets) > 0 {
		d.Referrals = &Referrals{ReferralTargets: s.Notifications.ReferralTargets}
	}
	slices.SortFunc(d.PolicyHistory, func(a, b v1alpha1.PolicyEra) int { return strings.Compare(string(a.Until), string(b.Until)) })
	for i := range d.PolicyHistory {
		if sc := d.PolicyHistory[i].Scoring; sc != nil {
			slices.Sort(sc.DisplayOnly)
		}
	}
	// Sets are unordered in the API; sort them so that the same policy
	// always hashes the same.
	slices.Sort(d.Scoring.DisplayOnly)
	slices.Sort(d.Privacy.NoIndicatorFor)
	slices.Sort(d.XAPI.AccountHomePages)
	slices.Sort(d.XAPI.Mobile.Platforms)
	for i := range d.XAPI.Mobile.Extensions {
		slices.Sort(d.XAPI.Mobile.Extensions[i].Equals)
		slices.Sort(d.XAPI.Mobile.Extensions[i].Contains)
	}
	// Mappings are ordered (the first match wins); the verbs and types
	// inside one are sets.
	for i := range d.XAPI.Mappings {
		slices.Sort(d.XAPI.Mappings[i].Verbs)
		slices.Sort(d.XAPI.Mappings[i].ActivityTypes)
	}
	return d
}

// Marshal encodes the document as the ConfigMap holds it: indented JSON with
// map keys sorted, so equal policies give equal bytes.
func (d Document) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode policy document: %w", err)
	}
	return append(b, '\n'), nil
}

// Hash identifies the document: the first 16 hex digits of the SHA-256 of
// its encoding. It is stamped on every pod template, so a change of policy
// rolls every service, and it keys the scoring cache.
func (d Document) Hash() (string, error) {
	b, err := d.Marshal()
	if err != nil {
		return "", err
	}
	return HashBytes(b), nil
}

// HashBytes is the hash of an encoded document.
func HashBytes(encoded []byte) string {
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:8])
}

// Parse decodes a document, refusing unknown fields so that a service never
// silently runs under a policy it does not understand.
func Parse(b []byte) (Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Document{}, fmt.Errorf("decode policy document: %w", err)
	}
	if dec.More() {
		return Document{}, fmt.Errorf("decode policy document: data after the document")
	}
	if len(d.Terms) == 0 {
		return Document{}, fmt.Errorf("decode policy document: no terms")
	}
	return d, nil
}

// AttendanceOn is the attendance switch in force on a day: that of the
// first entry of the history that had not ended by it, or the current one.
// Days are compared as YYYY-MM-DD strings, which orders them.
func (d Document) AttendanceOn(day string) v1alpha1.Attendance {
	for _, h := range d.PolicyHistory {
		if day <= string(h.Until) {
			return h.Attendance
		}
	}
	return d.Attendance
}
