package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/leap-dev/leap/operator/api/draft"
	"github.com/leap-dev/leap/operator/api/leapterm"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// PolicyWriter changes the policy in force where it lives: the LeapTerm
// through the Kubernetes API in a cluster, or the LeapTerm file locally.
// Either way every service sees the change through its policy source.
type PolicyWriter interface {
	// SetAttendance switches attendance and writes the policy history that
	// goes with the change (see attendanceHistory); an empty history
	// leaves the one there as it is.
	SetAttendance(ctx context.Context, enabled bool, reason string, history []v1alpha1.PolicyEra) error
	// Where says, for the LEAP team, what a change is written to.
	Where() string
	// Read is the spec as it is now (the form package draft takes) and
	// its version: the LeapTerm's resourceVersion, or the hash of the
	// file's policy.
	Read(ctx context.Context) (spec map[string]any, version string, err error)
	// ApplyPatch writes a JSON merge patch of the spec worked out from
	// the spec at version; errPolicyChanged, writing nothing, when the
	// policy is no longer at that version.
	ApplyPatch(ctx context.Context, version string, patch map[string]any) error
	// DryRun checks what ApplyPatch would write, writing nothing: where
	// an API server holds the policy, by the API server's own rules (a
	// *leapterm.Refusal names each refused field); errPolicyChanged when
	// the policy is no longer at version.
	DryRun(ctx context.Context, version string, patch map[string]any) error
}

// errPolicyChanged is a change refused because the policy changed since
// the change was worked out: someone else applied first.
var errPolicyChanged = errors.New("someone changed the policy since your preview; preview again")

// Read implements PolicyWriter.
func (k *KubeWriter) Read(ctx context.Context) (map[string]any, string, error) {
	spec, rv, err := k.GetSpec(ctx)
	return spec, rv, err
}

// ApplyPatch implements PolicyWriter: the API server itself refuses a
// patch at a resourceVersion that is no longer the LeapTerm's.
func (k *KubeWriter) ApplyPatch(ctx context.Context, version string, patch map[string]any) error {
	err := k.ApplyPolicy(ctx, version, patch)
	if errors.Is(err, leapterm.ErrConflict) {
		return errPolicyChanged
	}
	return err
}

// DryRun implements PolicyWriter: the API server runs every rule it
// holds (the CRD's as it is served, admission policies) on the patch and
// writes nothing.
func (k *KubeWriter) DryRun(ctx context.Context, version string, patch map[string]any) error {
	err := k.DryRunPolicy(ctx, version, patch)
	if errors.Is(err, leapterm.ErrConflict) {
		return errPolicyChanged
	}
	return err
}

// DryRun implements PolicyWriter. The file has no API server: the Go
// check of the CRD's rules (package validation, run on every draft) is
// the whole check, and only the version is left to see.
func (f FileWriter) DryRun(ctx context.Context, version string, _ map[string]any) error {
	if _, now, err := f.Read(ctx); err != nil {
		return err
	} else if now != version {
		return errPolicyChanged
	}
	return nil
}

// Read implements PolicyWriter: the version is the hash of the policy
// the file holds.
func (f FileWriter) Read(context.Context) (map[string]any, string, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", f.Path, err)
	}
	l, err := policy.ParseFile(f.Path, b)
	if err != nil {
		return nil, "", err
	}
	spec, err := draft.SpecOf(l.Doc)
	return spec, l.Hash, err
}

// ApplyPatch implements PolicyWriter: the fields the patch names change
// in the file, keeping its comments and layout, when the file's policy is
// still at version. The check and the write are not atomic against a
// person editing the file by hand, which make run does not guard against.
func (f FileWriter) ApplyPatch(ctx context.Context, version string, patch map[string]any) error {
	if _, now, err := f.Read(ctx); err != nil {
		return err
	} else if now != version {
		return errPolicyChanged
	}
	return f.edit(func(spec *yaml.Node) error { return mergeYAML(spec, patch) })
}

// mergeYAML applies a JSON merge patch (RFC 7386) to a YAML mapping: a
// null removes a key, an object merges into the mapping there, anything
// else replaces the value, keeping the comments of the node it replaces.
func mergeYAML(m *yaml.Node, patch map[string]any) error {
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: not a mapping", m.Line)
	}
	m.Style = 0
	for _, key := range slices.Sorted(maps.Keys(patch)) {
		v := patch[key]
		old := mappingChild(m, key)
		switch v := v.(type) {
		case nil:
			for i := 0; i+1 < len(m.Content); i += 2 {
				if m.Content[i].Value == key {
					m.Content = slices.Delete(m.Content, i, i+2)
					break
				}
			}
		case map[string]any:
			if old == nil || old.Kind != yaml.MappingNode {
				n := &yaml.Node{Kind: yaml.MappingNode}
				if old != nil {
					n.HeadComment, n.LineComment = old.HeadComment, old.LineComment
					*old = *n
				} else {
					old = n
					m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, n)
				}
			}
			if err := mergeYAML(old, v); err != nil {
				return err
			}
		default:
			var n yaml.Node
			if err := n.Encode(v); err != nil {
				return fmt.Errorf("encode %s: %w", key, err)
			}
			if old != nil {
				n.HeadComment, n.LineComment, n.FootComment = old.HeadComment, old.LineComment, old.FootComment
				*old = n
			} else {
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &n)
			}
		}
	}
	return nil
}

// KubeWriter patches the portal's own LeapTerm. The portal's
// ServiceAccount may get and patch that one LeapTerm and nothing else (and
// the chart's admission policy narrows that to the policy switches).
type KubeWriter struct{ *leapterm.Client }

// InClusterWriter is a KubeWriter with the pod's ServiceAccount credentials.
func InClusterWriter(namespace, name string) (*KubeWriter, error) {
	c, err := leapterm.InCluster(namespace, name)
	if err != nil {
		return nil, err
	}
	return &KubeWriter{c}, nil
}

// FileWriter edits the LeapTerm file that `make run` reads, keeping its
// comments and layout: it changes the attendance nodes and nothing else.
type FileWriter struct{ Path string }

// Where implements PolicyWriter.
func (f FileWriter) Where() string { return "the file " + f.Path }

// SetAttendance implements PolicyWriter.
func (f FileWriter) SetAttendance(_ context.Context, enabled bool, reason string, history []v1alpha1.PolicyEra) error {
	return f.edit(func(spec *yaml.Node) error {
		att := mappingChild(spec, "attendance")
		if att == nil {
			att = &yaml.Node{Kind: yaml.MappingNode}
			spec.Content = append(spec.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "attendance"}, att)
		}
		att.Style = 0 // block style, whatever it was
		setScalar(att, "enabled", strconv.FormatBool(enabled), "!!bool")
		setScalar(att, "reason", reason, "!!str")
		if len(history) > 0 {
			return setHistory(spec, history)
		}
		return nil
	})
}

// edit changes the file's spec node with change and writes the file back.
func (f FileWriter) edit(change func(spec *yaml.Node) error) error {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("read %s: %w", f.Path, err)
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("%s is empty", f.Path)
	}
	spec := mappingChild(doc.Content[0], "spec")
	if spec == nil {
		return fmt.Errorf("%s has no spec", f.Path)
	}
	if err := change(spec); err != nil {
		return err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	// Write beside it and rename, so a reader never sees half a file.
	tmp := f.Path + ".tmp"
	if err := os.WriteFile(tmp, out.Bytes(), 0o644); err != nil { //nolint:gosec // the LeapTerm file is not secret
		return err
	}
	return os.Rename(tmp, f.Path)
}

// setHistory writes spec.policyHistory, with the API's field names (its
// JSON ones, which yaml.v3 does not read from the Go types).
func setHistory(spec *yaml.Node, history []v1alpha1.PolicyEra) error {
	b, err := json.Marshal(history)
	if err != nil {
		return fmt.Errorf("encode the policy history: %w", err)
	}
	var generic []any
	if err := json.Unmarshal(b, &generic); err != nil {
		return fmt.Errorf("encode the policy history: %w", err)
	}
	var n yaml.Node
	if err := n.Encode(generic); err != nil {
		return fmt.Errorf("encode the policy history: %w", err)
	}
	if old := mappingChild(spec, "policyHistory"); old != nil {
		*old = n
		return nil
	}
	spec.Content = append(spec.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "policyHistory"}, &n)
	return nil
}

func mappingChild(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, value, tag string) {
	if n := mappingChild(m, key); n != nil {
		n.Kind, n.Value, n.Tag, n.Style = yaml.ScalarNode, value, tag, 0
		if tag == "!!str" {
			n.Style = yaml.DoubleQuotedStyle
		}
		return
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: value, Tag: tag}
	if tag == "!!str" {
		n.Style = yaml.DoubleQuotedStyle
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, n)
}
