package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apijson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/operator/api/validation"
)

// Loaded is a policy a service runs under.
type Loaded struct {
	Doc      Document
	Hash     string
	Calendar *calendar.Calendar
	// Source is the file it came from.
	Source string
}

// ParseFile reads either form of policy a service may be given: the policy
// document the operator writes into the ConfigMap (JSON), or a LeapTerm
// YAML file as a platform engineer would apply it (make run). A LeapTerm
// file gets the schema's defaults and the API's rules checked here, since
// no API server has seen it.
func ParseFile(name string, b []byte) (*Loaded, error) {
	var doc Document
	head := map[string]any{}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	if head["kind"] == "LeapTerm" {
		t, err := parseLeapTerm(b)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		doc = FromLeapTerm(t)
	} else {
		d, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		if err := Validate(d); err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		doc = d
	}
	cal, err := calendar.New(doc.Timezone, doc.Terms, doc.Breaks)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	hash, err := doc.Hash()
	if err != nil {
		return nil, err
	}
	return &Loaded{Doc: doc, Hash: hash, Calendar: cal, Source: name}, nil
}

// parseLeapTerm reads a LeapTerm file as the API server would take it:
// its spec defaulted and checked by the CRD (package validation), then
// decoded.
func parseLeapTerm(b []byte) (*v1alpha1.LeapTerm, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := apijson.Unmarshal(j, &obj); err != nil {
		return nil, err
	}
	if obj["apiVersion"] != v1alpha1.GroupVersion.String() {
		return nil, fmt.Errorf("apiVersion %v: want %s", obj["apiVersion"], v1alpha1.GroupVersion)
	}
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("LeapTerm: spec must be an object")
	}
	if err := validation.Default(spec); err != nil {
		return nil, err
	}
	errs, err := validation.Spec(context.Background(), spec, nil)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	j, err = json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	t := &v1alpha1.LeapTerm{}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("LeapTerm: %w", err)
	}
	if t.Namespace == "" {
		t.Namespace = "local"
	}
	return t, nil
}

// Validate checks a document, for policies that did not come through an
// API server (make run's LeapTerm file, a document written by hand), with
// the CRD's own rules (package validation, the API server's code on the
// generated CRD): one rule set, so that make run refuses what a cluster
// refuses, with the path of the field. A document must also be complete:
// the CRD's defaults must add nothing to it, since services apply no
// defaults of their own (but for xapi, see below).
func Validate(d Document) error {
	spec, err := specOf(d)
	if err != nil {
		return err
	}
	defaulted := maps.Clone(spec)
	if err := validation.Default(defaulted); err != nil {
		return err
	}
	errs, err := validation.Spec(context.Background(), defaulted, nil)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs.ToAggregate()
	}
	var s v1alpha1.LeapTermSpec
	if err := decodeJSON(defaulted, &s); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	ns, name, _ := strings.Cut(d.LeapTerm, "/")
	complete := FromLeapTerm(&v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: s})
	// A document without xapi (from an operator older than xAPI) maps
	// nothing, by design: the one part defaults may add to.
	complete.XAPI = d.XAPI
	got, err := d.Marshal()
	if err != nil {
		return err
	}
	want, err := complete.Marshal()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("policy document is incomplete: the LeapTerm's defaults would change it")
	}
	for i := 1; i < len(d.PolicyHistory); i++ {
		// The document's own order, which AttendanceOn relies on (the API
		// holds the history unordered; FromLeapTerm sorts it).
		if d.PolicyHistory[i].Until < d.PolicyHistory[i-1].Until {
			return fmt.Errorf("policyHistory must be ordered by until: %s after %s", d.PolicyHistory[i].Until, d.PolicyHistory[i-1].Until)
		}
	}
	return nil
}

// specOf is the LeapTerm spec a document holds (its policy fields), as
// decoded from JSON: maps, slices, int64.
func specOf(d Document) (map[string]any, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode policy document: %w", err)
	}
	var spec map[string]any
	if err := apijson.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("encode policy document: %w", err)
	}
	delete(spec, "leapTerm")
	if b, ok := spec["breaks"].([]any); ok && len(b) == 0 {
		delete(spec, "breaks")
	}
	return spec, nil
}

func decodeJSON(v any, target any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, target)
}

// Source is the policy a service runs under, re-read when its file changes.
// Readers call Current for every request: a new policy applies at once.
type Source struct {
	path    string
	current atomic.Pointer[Loaded]
	raw     atomic.Pointer[[]byte]
	log     *slog.Logger
}

// Open loads the policy at path; it must be valid for the service to start.
func Open(path string, log *slog.Logger) (*Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	l, err := ParseFile(path, b)
	if err != nil {
		return nil, err
	}
	s := &Source{path: path, log: log}
	s.current.Store(l)
	s.raw.Store(&b)
	return s, nil
}

// Static serves one fixed policy (tests, benchmarks).
func Static(l *Loaded) *Source {
	s := &Source{}
	s.current.Store(l)
	return s
}

// Current is the policy in force.
func (s *Source) Current() *Loaded { return s.current.Load() }

// Watch re-reads the file every interval until ctx ends. A changed file that
// does not parse is logged and ignored: the service keeps the policy it has
// rather than run without one. A ConfigMap mount changes by swapping a
// symlink, which content comparison sees and modification times may not.
func (s *Source) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reload()
		}
	}
}

func (s *Source) reload() {
	b, err := os.ReadFile(s.path)
	if err != nil {
		s.log.Error("policy file unreadable; keeping the policy in force", "path", s.path, "error", err)
		return
	}
	if old := s.raw.Load(); old != nil && bytes.Equal(*old, b) {
		return
	}
	l, err := ParseFile(s.path, b)
	if err != nil {
		s.log.Error("policy file invalid; keeping the policy in force", "path", s.path, "error", err, "hash", s.Current().Hash)
		s.raw.Store(&b) // report once per change, not every tick
		return
	}
	s.raw.Store(&b)
	prev := s.current.Swap(l)
	s.log.Info("policy changed", "path", s.path, "from", prev.Hash, "to", l.Hash)
}
