package validation

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

func specOf(t *testing.T, doc string) map[string]any {
	t.Helper()
	var spec map[string]any
	if err := json.Unmarshal([]byte(doc), &spec); err != nil {
		t.Fatal(err)
	}
	if err := Default(spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

const terms = `"terms":[{"name":"autumn","start":"2020-10-05","end":"2020-12-11"},{"name":"spring","start":"2021-01-18","end":"2021-03-26"}]`

// TestSpecRefusesWhatTheAPIRefuses: each rule of the CRD, CEL and schema
// alike, answers with its own message at the path of its field. The same
// drafts are sent to a real API server in
// operator/internal/apivalidation, which must answer the same.
func TestSpecRefusesWhatTheAPIRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, spec, path, message string
	}{
		{"band order", `{` + terms + `,"scoring":{"bands":{"high":50,"good":60,"partial":30,"low":10}}}`,
			"spec.scoring.bands", "band thresholds must be strictly descending"},
		{"band above 100", `{` + terms + `,"scoring":{"bands":{"high":150,"good":60,"partial":30,"low":10}}}`,
			"spec.scoring.bands.high", "less than or equal to 100"},
		{"negative weight", `{` + terms + `,"scoring":{"weights":{"tap_in":-1,"faser_view":1}}}`,
			"spec.scoring.weights", "weights must not be negative"},
		{"no weight above zero", `{` + terms + `,"scoring":{"weights":{"tap_in":0}}}`,
			"spec.scoring.weights", "at least one activity must have a weight above zero"},
		{"unknown activity", `{` + terms + `,"scoring":{"weights":{"tap_out":1}}}`,
			"spec.scoring.weights", "weights name an unknown activity"},
		{"window", `{` + terms + `,"scoring":{"windowDays":57}}`,
			"spec.scoring.windowDays", "windowDays must be between 1 and 56"},
		{"display-only weighted", `{` + terms + `,"scoring":{"weights":{"library_loan":2,"tap_in":1},"displayOnly":["library_loan"]}}`,
			"spec.scoring", "a display-only activity cannot have a weight above zero"},
		{"break ends before it starts", `{` + terms + `,"breaks":[{"name":"rw","start":"2020-11-13","end":"2020-11-09"}]}`,
			"spec.breaks[0]", "must not end before it starts"},
		{"break outside the terms", `{` + terms + `,"breaks":[{"name":"rw","start":"2020-12-20","end":"2020-12-22"}]}`,
			"spec", "every break must lie inside one term"},
		{"two breaks of one name", `{` + terms + `,"breaks":[{"name":"a","start":"2020-11-09","end":"2020-11-13"},{"name":"a","start":"2020-11-12","end":"2020-11-16"}]}`,
			"spec.breaks[1]", "Duplicate value"},
		{"overlapping breaks, different names", `{` + terms + `,"breaks":[{"name":"a","start":"2020-11-09","end":"2020-11-13"},{"name":"b","start":"2020-11-12","end":"2020-11-16"}]}`,
			"spec.breaks", "breaks must not overlap"},
		{"no such day", `{` + terms + `,"breaks":[{"name":"rw","start":"2021-02-29","end":"2021-03-01"}]}`,
			"spec.breaks[0].start", "is not a day of the calendar"},
		{"history twice on a day", `{` + terms + `,"policyHistory":[{"until":"2020-11-01"},{"until":"2020-11-01"}]}`,
			"spec.policyHistory", "policyHistory entries must end on different days"},
		{"alert days", `{` + terms + `,"scoring":{"noEngagementAlertDays":0}}`,
			"spec.scoring.noEngagementAlertDays", "greater than or equal to 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, err := Spec(context.Background(), specOf(t, tc.spec), nil)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range errs {
				if e.Field == tc.path && strings.Contains(e.Error(), tc.message) {
					found = true
				}
			}
			if !found {
				t.Errorf("want %q at %s, got %v", tc.message, tc.path, errs)
			}
		})
	}
}

// TestSpecAcceptsTheSamples: every sample a platform engineer is shown
// passes, with its defaults.
func TestSpecAcceptsTheSamples(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join(root(t), "config", "samples", "leap_*.yaml"))
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, name := range samples {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(j, &obj); err != nil {
			t.Fatal(err)
		}
		spec, _ := obj["spec"].(map[string]any)
		if err := Default(spec); err != nil {
			t.Fatal(err)
		}
		errs, err := Spec(context.Background(), spec, nil)
		if err != nil || len(errs) > 0 {
			t.Errorf("%s: %v %v", filepath.Base(name), err, errs)
		}
	}
}

// TestEmbeddedCRDIsTheGeneratedOne: the copy this package embeds is the
// CRD the cluster gets (make verify regenerates both; this says so sooner).
func TestEmbeddedCRDIsTheGeneratedOne(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "config", "crd", "bases", "leap.dev_leapterms.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, crdYAML) {
		t.Fatal("operator/api/validation/leap.dev_leapterms.yaml differs from config/crd/bases: run make manifests")
	}
}

func root(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}
