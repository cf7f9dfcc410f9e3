package apivalidation

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

// TestCatalogueMatchesTheSchema keeps the three spellings of the activity
// keys in step: the Go catalogue, the enum of displayOnly and the CEL rule
// on weights.
func TestCatalogueMatchesTheSchema(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "crd", "bases", "leap.dev_leapterms.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(b, crd); err != nil {
		t.Fatal(err)
	}
	scoring := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["scoring"]
	var keys []string
	for _, a := range v1alpha1.Catalogue {
		keys = append(keys, string(a.Key))
	}

	var enum []string
	for _, e := range scoring.Properties["displayOnly"].Items.Schema.Enum {
		enum = append(enum, strings.Trim(string(e.Raw), `"`))
	}
	if !slices.Equal(enum, keys) {
		t.Errorf("displayOnly enum %v, catalogue %v", enum, keys)
	}

	var rule string
	for _, v := range scoring.Properties["weights"].XValidations {
		if strings.Contains(v.Message, "unknown activity") {
			rule = v.Rule
		}
	}
	for _, k := range keys {
		if !strings.Contains(rule, "'"+k+"'") {
			t.Errorf("the weights rule does not know %s: %s", k, rule)
		}
	}
	if strings.Count(rule, "'") != 2*len(keys) {
		t.Errorf("the weights rule knows activities the catalogue does not: %s", rule)
	}
}
