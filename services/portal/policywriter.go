package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/leap-dev/leap/operator/api/leapterm"
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
	att := mappingChild(spec, "attendance")
	if att == nil {
		att = &yaml.Node{Kind: yaml.MappingNode}
		spec.Content = append(spec.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "attendance"}, att)
	}
	att.Style = 0 // block style, whatever it was
	setScalar(att, "enabled", strconv.FormatBool(enabled), "!!bool")
	setScalar(att, "reason", reason, "!!str")
	if len(history) > 0 {
		if err := setHistory(spec, history); err != nil {
			return err
		}
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
