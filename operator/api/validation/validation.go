// Package validation checks a LeapTerm spec against the LeapTerm CRD itself:
// its OpenAPI schema (types, ranges, patterns, enums) and its CEL rules
// (x-kubernetes-validations), evaluated by the API server's own code
// (k8s.io/apiextensions-apiserver) from the generated CRD that `make
// manifests` copies beside this file. There is one rule set: the one the
// API server enforces in a cluster also checks a policy read from a file
// (make run) and a draft the LEAP team previews, and every refusal comes
// with the path of the field it is about, as the API server's does.
package validation

import (
	"context"
	_ "embed"
	"fmt"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemavalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// crdYAML is config/crd/bases/leap.dev_leapterms.yaml, copied here by
// `make manifests` (a Go package can embed only files beneath it); `make
// verify` fails when the copy is stale.
//
//go:embed leap.dev_leapterms.yaml
var crdYAML []byte

// specSchema is the checkers of spec, built once from the CRD.
type specSchema struct {
	structural *structuralschema.Structural
	schema     schemavalidation.SchemaValidator
	cel        *cel.Validator
}

var load = sync.OnceValues(func() (*specSchema, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(crdYAML, crd); err != nil {
		return nil, fmt.Errorf("read the LeapTerm CRD: %w", err)
	}
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == v1alpha1.GroupVersion.Version {
			version = &crd.Spec.Versions[i]
		}
	}
	if version == nil || version.Schema == nil {
		return nil, fmt.Errorf("the LeapTerm CRD has no schema for %s", v1alpha1.GroupVersion.Version)
	}
	internal := &apiextensionsinternal.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(version.Schema, internal, nil); err != nil {
		return nil, fmt.Errorf("convert the LeapTerm schema: %w", err)
	}
	specProps, ok := internal.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		return nil, fmt.Errorf("the LeapTerm schema has no spec")
	}
	structural, err := structuralschema.NewStructural(&specProps)
	if err != nil {
		return nil, fmt.Errorf("the LeapTerm spec schema is not structural: %w", err)
	}
	sv, _, err := schemavalidation.NewSchemaValidator(&specProps)
	if err != nil {
		return nil, fmt.Errorf("the LeapTerm spec schema: %w", err)
	}
	return &specSchema{
		structural: structural,
		schema:     sv,
		// Not the resource root: the rules checked are those of spec and
		// below (the one rule on the root is about metadata.name).
		cel: cel.NewValidator(structural, false, celconfig.PerCallLimit),
	}, nil
})

// specPath is where every error points: the same paths the API server
// gives, so a form can show each beside its field.
var specPath = field.NewPath("spec")

// Default fills spec's unset fields with the CRD's defaults, as the API
// server does when it stores a LeapTerm. spec is a JSON document decoded
// into maps, slices, strings, bools, int64 and float64 (as by
// k8s.io/apimachinery/pkg/util/json).
func Default(spec map[string]any) error {
	s, err := load()
	if err != nil {
		return err
	}
	structuraldefaulting.Default(spec, s.structural)
	return nil
}

// Spec checks a spec as the API server checks it on create (oldSpec nil)
// or on update: the schema first, then, for a spec that passes it, the CEL
// rules (the API server too evaluates no rule on a value of the wrong
// type). spec has the form Default takes, and should be defaulted first:
// rules assume the defaults are there.
func Spec(ctx context.Context, spec, oldSpec map[string]any) (field.ErrorList, error) {
	s, err := load()
	if err != nil {
		return nil, err
	}
	var errs field.ErrorList
	if oldSpec == nil {
		errs = schemavalidation.ValidateCustomResource(specPath, spec, s.schema)
	} else {
		errs = schemavalidation.ValidateCustomResourceUpdate(specPath, spec, oldSpec, s.schema)
	}
	// The keys of list maps and the items of list sets are unique.
	errs = append(errs, listtype.ValidateListSetsAndMaps(specPath, s.structural, spec)...)
	if len(errs) > 0 {
		return errs, nil
	}
	var old any
	if oldSpec != nil {
		old = oldSpec
	}
	celErrs, _ := s.cel.Validate(ctx, specPath, s.structural, spec, old, celconfig.RuntimeCELCostBudget)
	return celErrs, nil
}
