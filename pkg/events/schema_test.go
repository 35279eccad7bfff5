package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tidemarkmq/tidemark/schemas"
)

// loadSchema reads one schema file from the embedded schemas.
func loadSchema(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := fs.ReadFile(schemas.FS, path.Join(schemas.Dir, name))
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parse schema %s: %v", name, err)
	}
	return m
}

// schemaFile is the file name of kind's data schema.
func schemaFile(kind Type) string { return path.Base(SchemaURL(kind)) }

// jsonField is one field of a Go struct as encoding/json sees it.
type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

// jsonFields flattens embedded structs the way encoding/json does.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		out = append(out, jsonField{name: name, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty"), typ: f.Type})
	}
	return out
}

// jsonType is the JSON Schema type of a Go type.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "unsupported " + t.Kind().String()
}

// enumDescriptions maps the reason types to their Go descriptions.
var enumDescriptions = map[reflect.Type]map[string]string{
	reflect.TypeFor[DisconnectReason]():  toStrings(DisconnectReasons),
	reflect.TypeFor[TerminateReason]():   toStrings(TerminateReasons),
	reflect.TypeFor[DropReason]():        toStrings(DropReasons),
	reflect.TypeFor[UnsubscribeReason](): toStrings(UnsubscribeReasons),
	reflect.TypeFor[WillTrigger]():       toStrings(WillTriggers),
}

func toStrings[K ~string](m map[K]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

// schemaEnum returns the values and descriptions of a oneOf-of-consts enum.
func schemaEnum(s map[string]any) map[string]string {
	out := map[string]string{}
	one, _ := s["oneOf"].([]any)
	for _, alt := range one {
		a, _ := alt.(map[string]any)
		c, _ := a["const"].(string)
		d, _ := a["description"].(string)
		out[c] = d
	}
	return out
}

// compareStruct checks a Go struct type and an object schema both ways:
// same property names, required exactly when not omitempty, same JSON
// types, same enum values and descriptions, recursively.
func compareStruct(t *testing.T, where string, typ reflect.Type, s map[string]any) {
	t.Helper()
	if s["type"] != "object" {
		t.Errorf("%s: schema type %v, want object", where, s["type"])
	}
	props, _ := s["properties"].(map[string]any)
	var required []string
	for _, r := range s["required"].([]any) {
		required = append(required, r.(string))
	}
	seen := map[string]bool{}
	for _, f := range jsonFields(typ) {
		seen[f.name] = true
		at := where + "." + f.name
		ps, ok := props[f.name].(map[string]any)
		if !ok {
			t.Errorf("%s: Go field missing from the schema", at)
			continue
		}
		if req := slices.Contains(required, f.name); req == f.omitempty {
			t.Errorf("%s: schema required = %v but Go omitempty = %v", at, req, f.omitempty)
		}
		if f.typ.Kind() == reflect.Pointer && !f.omitempty {
			t.Errorf("%s: pointer field without omitempty would encode null", at)
		}
		if got, want := ps["type"], jsonType(f.typ); got != want {
			t.Errorf("%s: schema type %v, Go type %s (%s)", at, got, want, f.typ)
		}
		if _, ok := ps["description"].(string); !ok {
			t.Errorf("%s: schema property has no description", at)
		}
		if want, ok := enumDescriptions[f.typ]; ok {
			if got := schemaEnum(ps); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: schema enum %v, Go constants %v", at, got, want)
			}
		}
		elem := f.typ
		if elem.Kind() == reflect.Slice {
			elem = elem.Elem()
			items, _ := ps["items"].(map[string]any)
			if items == nil {
				t.Errorf("%s: array without items", at)
				continue
			}
			if got, want := items["type"], jsonType(elem); got != want {
				t.Errorf("%s[]: schema type %v, Go type %s", at, got, want)
			}
			ps = items
		}
		if elem.Kind() == reflect.Struct {
			compareStruct(t, at, elem, ps)
		}
	}
	for name := range props {
		if !seen[name] {
			t.Errorf("%s.%s: schema property has no Go field", where, name)
		}
	}
	for _, name := range required {
		if !seen[name] {
			t.Errorf("%s.%s: required in the schema but no Go field", where, name)
		}
	}
}

func TestSchemaDrift(t *testing.T) {
	for _, kind := range Types {
		t.Run(string(kind), func(t *testing.T) {
			s := loadSchema(t, schemaFile(kind))
			if s["$id"] != SchemaURL(kind) {
				t.Errorf("$id = %v, want %s", s["$id"], SchemaURL(kind))
			}
			if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %v, want draft 2020-12", s["$schema"])
			}
			compareStruct(t, string(kind), reflect.TypeOf(DataFor(kind)).Elem(), s)
		})
	}
	t.Run("envelope", func(t *testing.T) {
		s := loadSchema(t, schemas.Envelope)
		env := reflect.TypeFor[envelopeJSON]()
		props := s["properties"].(map[string]any)
		var required []string
		for _, r := range s["required"].([]any) {
			required = append(required, r.(string))
		}
		fields := jsonFields(env)
		if len(fields) != len(props) {
			t.Errorf("envelope: %d Go fields, %d schema properties", len(fields), len(props))
		}
		for _, f := range fields {
			if _, ok := props[f.name]; !ok {
				t.Errorf("envelope.%s: Go field missing from the schema", f.name)
			}
			if req := slices.Contains(required, f.name); req == f.omitempty {
				t.Errorf("envelope.%s: schema required = %v but Go omitempty = %v", f.name, req, f.omitempty)
			}
		}
		typeProp := props["type"].(map[string]any)
		var enum []string
		for _, v := range typeProp["enum"].([]any) {
			enum = append(enum, v.(string))
		}
		want := make([]string, len(Types))
		for i, k := range Types {
			want[i] = string(k)
		}
		sort.Strings(enum)
		sort.Strings(want)
		if !slices.Equal(enum, want) {
			t.Errorf("envelope type enum %v, Go Types %v", enum, want)
		}
	})
	t.Run("every schema file is an event type or the envelope", func(t *testing.T) {
		files, err := fs.Glob(schemas.FS, path.Join(schemas.Dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{schemas.Envelope}
		for _, k := range Types {
			want = append(want, schemaFile(k))
		}
		var got []string
		for _, f := range files {
			got = append(got, path.Base(f))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("schema files %v, want %v", got, want)
		}
	})
}

func TestValidateSamples(t *testing.T) {
	for kind, data := range samples() {
		t.Run(string(kind), func(t *testing.T) {
			client := "dev-1"
			if kind == ClientConnectRejected {
				client = ""
			}
			e := NewWithID(DeterministicID("mqtt.sessions", 1, 2, 0), kind, "fe-1", client, data, time.Now())
			if err := e.Validate(); err != nil {
				t.Fatalf("valid sample rejected: %v", err)
			}
		})
	}
}

// TestValidateRejects breaks a valid event one way at a time; each must be
// rejected, or the schemas would not be worth publishing.
func TestValidateRejects(t *testing.T) {
	base := New(ClientDisconnected, "fe-1", "dev-1", samples()[ClientDisconnected], testTime)
	good, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(good); err != nil {
		t.Fatalf("base event rejected: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(env, data map[string]any)
	}{
		{"wrong enum value", func(_, d map[string]any) { d["reason"] = "abducted" }},
		{"missing required data field", func(_, d map[string]any) { delete(d, "conn_id") }},
		{"wrong data type", func(_, d map[string]any) { d["epoch"] = "42" }},
		{"negative duration", func(_, d map[string]any) { d["duration_ms"] = -1 }},
		{"protocol level out of enum", func(_, d map[string]any) { d["proto"] = 6 }},
		{"conn_id not a uuid", func(_, d map[string]any) { d["conn_id"] = "conn-1" }},
		{"unknown data field", func(_, d map[string]any) { d["password"] = "hunter2" }},
		{"missing envelope id", func(e, _ map[string]any) { delete(e, "id") }},
		{"id not a uuid", func(e, _ map[string]any) { e["id"] = "42" }},
		{"time without milliseconds", func(e, _ map[string]any) { e["time"] = "2026-03-04T04:06:07Z" }},
		{"time not utc", func(e, _ map[string]any) { e["time"] = "2026-03-04T05:06:07.891+01:00" }},
		{"wrong spec version", func(e, _ map[string]any) { e["specversion"] = "0.3" }},
		{"unknown type", func(e, _ map[string]any) { e["type"] = "mqtt.client.teleported" }},
		{"dataschema of another type", func(e, _ map[string]any) { e["dataschema"] = SchemaURL(ClientConnected) }},
		{"data of another type", func(e, _ map[string]any) {
			e["type"] = string(ClientConnected)
			e["dataschema"] = SchemaURL(ClientConnected)
		}},
		{"empty subject", func(e, _ map[string]any) { e["subject"] = "" }},
		{"source not a node uri", func(e, _ map[string]any) { e["source"] = "fe-1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env map[string]any
			if err := json.Unmarshal(good, &env); err != nil {
				t.Fatal(err)
			}
			tt.mutate(env, env["data"].(map[string]any))
			b, err := json.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateJSON(b)
			if err == nil {
				t.Fatalf("broken event accepted: %s", b)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want it to wrap ErrInvalid", err)
			}
		})
	}
}

// TestSchemasCompile compiles every schema file on its own as draft
// 2020-12, so a consumer loading one file (not via the envelope) can too.
func TestSchemasCompile(t *testing.T) {
	files, err := fs.Glob(schemas.FS, path.Join(schemas.Dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		t.Run(path.Base(name), func(t *testing.T) {
			c := jsonschema.NewCompiler()
			c.DefaultDraft(jsonschema.Draft2020)
			for _, other := range files {
				b, err := fs.ReadFile(schemas.FS, other)
				if err != nil {
					t.Fatal(err)
				}
				doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("parse %s: %v", other, err)
				}
				if err := c.AddResource(schemas.Base+path.Base(other), doc); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Compile(schemas.Base + path.Base(name)); err != nil {
				t.Fatalf("compile: %v", err)
			}
		})
	}
}
