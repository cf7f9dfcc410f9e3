package chartschema

import (
	"encoding/json"
	"strings"
	"testing"
)

func generate(t *testing.T, values string) map[string]any {
	t.Helper()
	b, err := Generate("t", []byte(values))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func prop(s map[string]any, path ...string) map[string]any {
	for _, p := range path {
		s, _ = s["properties"].(map[string]any)[p].(map[string]any)
	}
	return s
}

func TestTypesComeFromTheDefaults(t *testing.T) {
	s := generate(t, `
# -- The name.
# More of it.
name: ""
on: true
count: 3
ratio: 0.5
anything: null
list: []
free: {}
nested:
  # -- Inner.
  inner: x
`)
	for path, want := range map[string]string{"name": "string", "on": "boolean", "count": "integer", "ratio": "number", "list": "array", "free": "object", "nested": "object"} {
		if got := prop(s, path)["type"]; got != want {
			t.Errorf("%s: type %v, want %s", path, got, want)
		}
	}
	if _, ok := prop(s, "anything")["type"]; ok {
		t.Error("a null default got a type")
	}
	if got := prop(s, "name")["description"]; got != "The name. More of it." {
		t.Errorf("description %q", got)
	}
	if s["additionalProperties"] != false || prop(s, "nested")["additionalProperties"] != false {
		t.Error("objects with keys must refuse unknown keys")
	}
	if _, ok := prop(s, "free")["additionalProperties"]; ok {
		t.Error("an empty object is free-form")
	}
	if prop(s, "global")["type"] != "object" {
		t.Error("Helm's global key must be allowed")
	}
}

func TestSchemaLinesConstrain(t *testing.T) {
	s := generate(t, `
# @schema port
# -- The port.
port: 8080
# @schema {"enum": ["A", "B"]}
mode: A
# @schema labels
labels: {}
# @schema resourceList
limits: {}
# @schema {"additionalProperties": true}
context:
  runAsNonRoot: true
`)
	if got := prop(s, "port")["$ref"]; got != "#/definitions/port" {
		t.Errorf("port: %v", prop(s, "port"))
	}
	if _, ok := prop(s, "port")["type"]; ok {
		t.Error("a $ref keeps no inferred type")
	}
	if got := prop(s, "port")["description"]; got != "The port." {
		t.Errorf("@schema lines must not enter the description: %q", got)
	}
	if _, ok := prop(s, "mode")["type"]; ok || prop(s, "mode")["enum"] == nil {
		t.Errorf("mode: %v", prop(s, "mode"))
	}
	defs := s["definitions"].(map[string]any)
	for _, name := range []string{"port", "labels", "resourceList", "quantity"} {
		if defs[name] == nil {
			t.Errorf("definition %s missing", name)
		}
	}
	if defs["duration"] != nil {
		t.Error("an unused definition was written")
	}
	if _, ok := prop(s, "context")["properties"]; ok {
		t.Error("a free-form object lists its example's keys")
	}
}

func TestBadValuesAreRefusedWithTheReason(t *testing.T) {
	for values, want := range map[string]string{
		"a: [":                           "values:",
		"- 1":                            "want a mapping",
		"# @schema nosuch\na: 1":         "want a definition name",
		"# @schema {\"enum\": [\na: 1":   "JSON object",
		"a: !!binary aGk=":               "gives no type",
		"a: &x 1\nb: *x":                 "aliases",
		"a:\n  # @schema {oops}\n  b: 1": "values.a.b",
	} {
		_, err := Generate("t", []byte(values))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", values, err, want)
		}
	}
}

func FuzzGenerate(f *testing.F) {
	f.Add("a: 1\n# @schema port\nb: 2\n")
	f.Add("# -- x\nc:\n  d: [1]\n")
	f.Fuzz(func(t *testing.T, values string) {
		b, err := Generate("t", []byte(values))
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for %q", values)
		}
	})
}
