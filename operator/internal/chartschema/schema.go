// Package chartschema writes a chart's values.schema.json from its
// values.yaml, so the two cannot disagree: the types come from the default
// values, the descriptions from the `# --` comments helm-docs reads for the
// chart's README, and the constraints a default cannot show from
// `# @schema` lines in the same comment:
//
//	# @schema port                    a named shape (see Definitions)
//	# @schema {"enum": ["A", "B"]}    JSON merged into the inferred schema
//
// Put `# @schema` lines above the `# --` line: helm-docs starts a value's
// description at `# --`, so they stay out of the README.
package chartschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Definitions are the named shapes a `# @schema NAME` line refers to; the
// schema carries those it uses under "definitions".
var Definitions = map[string]map[string]any{
	"labels": {"type": "object", "additionalProperties": map[string]any{"type": "string"}},
	"quantity": {"anyOf": []any{
		map[string]any{"type": "string", "pattern": `^[+-]?[0-9.]+([eE][+-]?[0-9]+|[KMGTPE]i?|[mkMGTPE])?$`},
		map[string]any{"type": "number", "minimum": 0},
	}},
	"resourceList": {"type": "object", "additionalProperties": map[string]any{"$ref": "#/definitions/quantity"}},
	"duration":     {"type": "string", "pattern": `^$|^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`},
	"port":         {"type": "integer", "minimum": 1, "maximum": 65535},
	"dnsLabel":     {"type": "string", "maxLength": 63, "pattern": `^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`},
}

// keywords that say what a value is, so the type inferred from its default
// gives way to them.
var typing = []string{"$ref", "anyOf", "oneOf", "enum", "type"}

// Generate is the schema of a values file, indented, with a final newline.
func Generate(title string, values []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(values, &doc); err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("values: want a mapping at the top")
	}
	g := generator{used: map[string]bool{}}
	root, err := g.node("", doc.Content[0], "")
	if err != nil {
		return nil, err
	}
	// Helm passes a parent chart's globals to every subchart.
	props, _ := root["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		root["properties"], root["additionalProperties"] = props, false
	}
	props["global"] = map[string]any{"type": "object"}
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["title"] = title
	if len(g.used) > 0 {
		defs := map[string]any{}
		for name := range g.used {
			defs[name] = Definitions[name]
		}
		// A definition may use another (resourceList uses quantity).
		if g.used["resourceList"] {
			defs["quantity"] = Definitions["quantity"]
		}
		root["definitions"] = defs
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

type generator struct{ used map[string]bool }

// node is the schema of one value; comment is the comment above its key.
func (g generator) node(path string, n *yaml.Node, comment string) (map[string]any, error) {
	s := map[string]any{}
	switch n.Kind {
	case yaml.MappingNode:
		s["type"] = "object"
		if len(n.Content) > 0 {
			s["additionalProperties"] = false
			props := map[string]any{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				child, err := g.node(path+"."+k.Value, v, k.HeadComment)
				if err != nil {
					return nil, err
				}
				props[k.Value] = child
			}
			s["properties"] = props
		}
	case yaml.SequenceNode:
		s["type"] = "array"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			s["type"] = "string"
		case "!!bool":
			s["type"] = "boolean"
		case "!!int":
			s["type"] = "integer"
		case "!!float":
			s["type"] = "number"
		case "!!null":
			delete(s, "type")
		default:
			return nil, fmt.Errorf("values%s: a %s default gives no type: add a `# @schema` line", path, n.Tag)
		}
	default:
		return nil, fmt.Errorf("values%s: anchors and aliases are not supported", path)
	}
	desc, extras, err := g.parseComment(path, comment)
	if err != nil {
		return nil, err
	}
	if desc != "" {
		s["description"] = desc
	}
	for _, extra := range extras {
		if slices.ContainsFunc(typing, func(k string) bool { _, ok := extra[k]; return ok }) {
			delete(s, "type")
			if _, ok := extra["$ref"]; ok {
				delete(s, "additionalProperties")
				delete(s, "properties")
			}
		}
		maps.Copy(s, extra)
		// A free-form object: its defaults are an example, not its shape.
		if extra["additionalProperties"] == true {
			delete(s, "properties")
		}
	}
	return s, nil
}

// parseComment splits a key's comment into its `# --` description and its
// `# @schema` lines.
func (g generator) parseComment(path, comment string) (string, []map[string]any, error) {
	var desc []string
	var extras []map[string]any
	inDesc := false
	for line := range strings.SplitSeq(comment, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		switch {
		case strings.HasPrefix(line, "@schema"):
			arg := strings.TrimSpace(strings.TrimPrefix(line, "@schema"))
			if _, ok := Definitions[arg]; ok {
				g.used[arg] = true
				extras = append(extras, map[string]any{"$ref": "#/definitions/" + arg})
				continue
			}
			var extra map[string]any
			if err := json.Unmarshal([]byte(arg), &extra); err != nil {
				return "", nil, fmt.Errorf("values%s: `@schema %s`: want a definition name (%s) or a JSON object: %w",
					path, arg, strings.Join(slices.Sorted(maps.Keys(Definitions)), ", "), err)
			}
			g.markRefs(extra)
			extras = append(extras, extra)
		case strings.HasPrefix(line, "--"):
			inDesc = true
			desc = desc[:0]
			if t := strings.TrimSpace(strings.TrimPrefix(line, "--")); t != "" {
				desc = append(desc, t)
			}
		case inDesc && line != "":
			desc = append(desc, line)
		case line == "":
			inDesc = false
		}
	}
	return strings.Join(desc, " "), extras, nil
}

// markRefs records the definitions a JSON fragment refers to.
func (g generator) markRefs(v any) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			if name, ok := strings.CutPrefix(ref, "#/definitions/"); ok {
				g.used[name] = true
			}
		}
		for _, c := range v {
			g.markRefs(c)
		}
	case []any:
		for _, c := range v {
			g.markRefs(c)
		}
	}
}
