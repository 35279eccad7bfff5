package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// ErrNoSchema reports a CRD file without an openAPIV3Schema for a version.
var ErrNoSchema = errors.New("crd version has no openAPIV3Schema")

// CRDSchemas holds one compiled JSON Schema per custom resource group,
// version and kind, derived from CustomResourceDefinition files.
type CRDSchemas struct {
	schemas map[schema.GroupVersionKind]*jsonschema.Schema
}

// crdFile is the part of a CustomResourceDefinition the validator reads.
type crdFile struct {
	Kind string `json:"kind"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Served bool   `json:"served"`
			Schema struct {
				OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// LoadCRDs reads every *.yaml CustomResourceDefinition in dir and compiles
// the schema of each served version.
func LoadCRDs(dir string) (*CRDSchemas, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list crds: %w", err)
	}
	c := &CRDSchemas{schemas: map[schema.GroupVersionKind]*jsonschema.Schema{}}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read crd: %w", err)
		}
		var crd crdFile
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			return nil, fmt.Errorf("decode crd %s: %w", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			if v.Schema.OpenAPIV3Schema == nil {
				return nil, fmt.Errorf("%s: %w", gvk, ErrNoSchema)
			}
			sch, err := compile(gvk.String(), ToJSONSchema(v.Schema.OpenAPIV3Schema))
			if err != nil {
				return nil, fmt.Errorf("compile schema %s: %w", gvk, err)
			}
			c.schemas[gvk] = sch
		}
	}
	return c, nil
}

// compile turns a JSON Schema document into a validator. The document goes
// through JSON so that numbers have the types the library expects.
func compile(name string, doc map[string]any) (*jsonschema.Schema, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	comp := jsonschema.NewCompiler()
	url := "mem:///" + name + ".json"
	if err := comp.AddResource(url, v); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	return comp.Compile(url)
}

// Knows reports whether a schema exists for the kind.
func (c *CRDSchemas) Knows(gvk schema.GroupVersionKind) bool {
	_, ok := c.schemas[gvk]
	return ok
}

// Kinds lists the kinds with a schema, for messages.
func (c *CRDSchemas) Kinds() []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, 0, len(c.schemas))
	for k := range c.schemas {
		out = append(out, k)
	}
	return out
}

// Validate checks a custom resource against its schema and its metadata
// against ObjectMeta.
func (c *CRDSchemas) Validate(o *Object) error {
	sch, ok := c.schemas[o.GVK]
	if !ok {
		return fmt.Errorf("%w %s", ErrUnknownKind, o.GVK)
	}
	if err := strictMeta(o.YAML); err != nil {
		return err
	}
	j, err := yaml.YAMLToJSON(o.YAML)
	if err != nil {
		return fmt.Errorf("yaml to json: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return nil
}

// ToJSONSchema rewrites a structural openAPIV3Schema into a JSON Schema with
// the API server's semantics for what it accepts:
//   - an object with properties and no additionalProperties, unless marked
//     x-kubernetes-preserve-unknown-fields, accepts no other field (the API
//     server prunes or, under strict field validation, rejects them; either
//     way a misspelled field does not do what it says);
//   - x-kubernetes-int-or-string accepts an integer or a string;
//   - nullable accepts null.
//
// Other x-kubernetes-* extensions (including CEL x-kubernetes-validations) are
// dropped: they are not JSON Schema and are not evaluated offline.
func ToJSONSchema(node map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range node {
		switch k {
		case "properties":
			props := map[string]any{}
			if m, ok := v.(map[string]any); ok {
				for name, p := range m {
					props[name] = convertAny(p)
				}
			}
			out[k] = props
		case "items", "not", "additionalProperties":
			out[k] = convertAny(v)
		case "allOf", "anyOf", "oneOf":
			list, _ := v.([]any)
			conv := make([]any, len(list))
			for i, s := range list {
				conv[i] = convertAny(s)
			}
			out[k] = conv
		case "nullable":
		default:
			if strings.HasPrefix(k, "x-kubernetes-") {
				continue
			}
			out[k] = v
		}
	}
	if node["x-kubernetes-int-or-string"] == true {
		delete(out, "type")
		out["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
	}
	if node["nullable"] == true {
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	_, hasProps := node["properties"]
	_, hasAdditional := node["additionalProperties"]
	if hasProps && !hasAdditional && node["x-kubernetes-preserve-unknown-fields"] != true {
		out["additionalProperties"] = false
	}
	return out
}

// ValidateJSON compiles a JSON Schema document and validates one JSON
// document against it: the building block of Validate, open for tests of
// the schema conversion.
func ValidateJSON(schemaDoc map[string]any, doc []byte) error {
	sch, err := compile("doc", schemaDoc)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return sch.Validate(inst)
}

// convertAny converts a subschema, leaving booleans (additionalProperties:
// false) and anything unexpected as they are for the compiler to judge.
func convertAny(v any) any {
	if m, ok := v.(map[string]any); ok {
		return ToJSONSchema(m)
	}
	return v
}
