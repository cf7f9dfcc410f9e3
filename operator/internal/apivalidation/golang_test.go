package apivalidation

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/validation"
)

// TestGoValidationAgreesWithTheAPIServer: operator/api/validation, which
// checks make run's policy file and the LEAP team's drafts, evaluates the
// CRD's own rules and so refuses what the API server refuses, with the
// same message at the same field path, for every rule of the table. The
// same LeapTerm written as make run's file is refused by the services'
// policy loader (policy.ParseFile) with the same message, so make run
// cannot drift from a cluster either.
func TestGoValidationAgreesWithTheAPIServer(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	for i, tc := range invalid {
		// The name-length rule is on metadata.name; the Go check is of the
		// spec (a draft or make run's file has no object name to check).
		if tc.name == "name too long" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			u := typical(t, ns)
			u.SetName(fmt.Sprintf("go-%d", i))
			tc.change(u)
			spec := specOf(t, u.Object["spec"])
			if err := validation.Default(spec); err != nil {
				t.Fatal(err)
			}
			errs, err := validation.Spec(ctx, spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) == 0 {
				t.Fatalf("the Go check accepted a LeapTerm with %s", tc.name)
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.message) {
				t.Errorf("Go says %v; want %q", errs, tc.message)
			}
			serverErr := k8s.Create(ctx, u)
			if serverErr == nil {
				t.Fatalf("the API server accepted a LeapTerm with %s", tc.name)
			}
			for _, e := range errs {
				if !strings.Contains(serverErr.Error(), e.Field+": ") {
					t.Errorf("Go points at %s; the API server says %v", e.Field, serverErr)
				}
			}
			file, err := yaml.Marshal(u.Object)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := policy.ParseFile("leapterm.yaml", file); err == nil {
				t.Errorf("make run's policy loader accepted a LeapTerm file with %s", tc.name)
			} else if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("make run's policy loader says %v; want %q", err, tc.message)
			}
		})
	}
}

// TestGoValidationAcceptsTheSamples: what the API server takes, the Go
// check takes.
func TestGoValidationAcceptsTheSamples(t *testing.T) {
	for _, name := range []string{"leap_v1alpha1_leapterm_typical.yaml", "leap_v1alpha1_leapterm_covid.yaml", "leap_v1alpha1_leapterm_minimal.yaml"} {
		spec := specOf(t, sample(t, name).Object["spec"])
		if err := validation.Default(spec); err != nil {
			t.Fatal(err)
		}
		if errs, err := validation.Spec(context.Background(), spec, nil); err != nil || len(errs) > 0 {
			t.Errorf("%s: %v %v", name, err, errs)
		}
		file, err := yaml.Marshal(sample(t, name).Object)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policy.ParseFile(name, file); err != nil {
			t.Errorf("make run's policy loader refuses %s: %v", name, err)
		}
	}
}

// specOf is a spec in the form the Go check takes: decoded from JSON, with
// whole numbers as int64.
func specOf(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}
