package charttest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/internal/testenv"
)

func chartDir() string { return filepath.Join(testenv.Root(), "charts", "leap-operator") }

// runHelm runs helm with args and returns what it printed on its standard output.
func runHelm(args ...string) (string, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Env = helmEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// release is one way of installing the chart: values files (relative to the
// chart) and --set flags.
type release struct {
	files []string
	set   []string
}

func (r release) valueArgs() []string {
	var args []string
	for _, f := range r.files {
		args = append(args, "-f", filepath.Join(chartDir(), f))
	}
	for _, s := range r.set {
		args = append(args, "--set", s)
	}
	return args
}

// template runs helm template for r.
func (r release) template() (string, error) {
	args := append([]string{"template", releaseName, chartDir(), "--namespace", releaseNamespace,
		"--kube-version", testenv.K8sVersion}, r.valueArgs()...)
	return runHelm(args...)
}

// object is one rendered object.
type object struct {
	source string // the template it came from
	json   []byte
	u      *unstructured.Unstructured
}

func (o object) String() string {
	return fmt.Sprintf("%s %s (%s)", o.u.GetKind(), client.ObjectKeyFromObject(o.u), o.source)
}

// render runs helm template for r and splits its output into objects.
func render(t *testing.T, r release) []object {
	t.Helper()
	out, err := r.template()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("helm template rendered nothing")
	}
	return objs
}

// parseObjects splits a stream of YAML documents into objects. A duplicate
// key is an error: the API server would keep one of them silently.
func parseObjects(stream string) ([]object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var objs []object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		source := ""
		for line := range strings.Lines(string(doc)) {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = strings.TrimSpace(s)
				break
			}
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if string(js) == "null" {
			continue // only comments
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		objs = append(objs, object{source: source, json: js, u: u})
	}
}

// readYAML reads the single object of a YAML file into into, strictly.
func readYAML(file string, into any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// strictCodecs decode the built-in kinds, CustomResourceDefinition and
// LeapTerm, failing on an unknown or duplicate field.
var strictCodecs = serializer.NewCodecFactory(newScheme(), serializer.EnableStrict)

// crdSchemas are the structural schemas of custom resources, by kind.
type crdSchemas map[schema.GroupVersionKind]*structuralschema.Structural

// add adds the schema of every served version of crd.
func (s crdSchemas) add(crd *apiextensionsv1.CustomResourceDefinition) error {
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return fmt.Errorf("%s %s: no schema", crd.Name, v.Name)
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return fmt.Errorf("%s %s: %w", crd.Name, v.Name, err)
		}
		ss, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return fmt.Errorf("%s %s: %w", crd.Name, v.Name, err)
		}
		if errs := structuralschema.ValidateStructural(nil, ss); len(errs) > 0 {
			return fmt.Errorf("%s %s: not a structural schema: %w", crd.Name, v.Name, errs.ToAggregate())
		}
		s[schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}] = ss
	}
	return nil
}

// knownCRDs are the schemas of LeapTerm (config/crd/bases: what the chart's
// CRD is generated from) and of the ServiceMonitor subset of testdata.
func knownCRDs(t *testing.T) crdSchemas {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.Root(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRD in config/crd/bases (%v)", err)
	}
	files = append(files, filepath.Join("testdata", "servicemonitor-crd.yaml"))
	s := crdSchemas{}
	for _, f := range files {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := readYAML(f, crd); err != nil {
			t.Fatal(err)
		}
		if err := s.add(crd); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// validateOffline checks o without a server: a built-in kind (and the CRD,
// and LeapTerm) by strict decoding into its Go type; a custom resource by
// its CRD's schema: no field the schema does not know, and types, formats,
// enums, patterns and bounds as declared. (CEL rules need the API server:
// the dry run checks them.)
func validateOffline(o object, crds crdSchemas) error {
	_, _, err := strictCodecs.UniversalDeserializer().Decode(o.json, nil, nil)
	if err == nil {
		if ss := crds[o.u.GroupVersionKind()]; ss != nil {
			return validateBySchema(o.u, ss)
		}
		return nil
	}
	if !runtime.IsNotRegisteredError(err) {
		return err
	}
	ss := crds[o.u.GroupVersionKind()]
	if ss == nil {
		return fmt.Errorf("no Go type and no CRD known for %s", o.u.GroupVersionKind())
	}
	return validateBySchema(o.u, ss)
}

func validateBySchema(u *unstructured.Unstructured, ss *structuralschema.Structural) error {
	obj := runtime.DeepCopyJSON(u.Object)
	unknown := structuralpruning.PruneWithOptions(obj, ss, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	if len(unknown) > 0 {
		return fmt.Errorf("unknown fields %v", unknown)
	}
	// metadata is the API server's to check, not the schema's.
	delete(obj, "metadata")
	result := validate.NewSchemaValidator(ss.ToKubeOpenAPI(), nil, "", strfmt.Default).Validate(obj)
	if !result.IsValid() {
		return errors.Join(result.Errors...)
	}
	return nil
}

// ensureNamespace creates namespace ns, when absent, under the restricted
// Pod Security Standard: a pod template that breaks it draws a warning
// (Deployment) or is refused (Pod).
func ensureNamespace(ctx context.Context, ns string) error {
	restricted := map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
	}
	err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: restricted}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// dryRun submits u to the API server without persisting it: created, or
// updated when it exists (the CRD the test server already holds), with
// strict field validation. A warning of the server is an error too.
func dryRun(ctx context.Context, u *unstructured.Unstructured) error {
	ctx, w := withWarnings(ctx)
	u = u.DeepCopy()
	err := k8s.Create(ctx, u, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
	if apierrors.IsAlreadyExists(err) {
		existing := &unstructured.Unstructured{}
		existing.SetGroupVersionKind(u.GroupVersionKind())
		if err = k8s.Get(ctx, client.ObjectKeyFromObject(u), existing); err != nil {
			return err
		}
		u.SetResourceVersion(existing.GetResourceVersion())
		err = k8s.Update(ctx, u, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
	}
	if err != nil {
		return err
	}
	if ws := w.all(); len(ws) > 0 {
		return fmt.Errorf("the API server warned: %s", strings.Join(ws, "; "))
	}
	return nil
}

// namespaced tells whether the API server holds kind gvk in namespaces.
func namespaced(gvk schema.GroupVersionKind) (bool, error) {
	m, err := k8s.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}
