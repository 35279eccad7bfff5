package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tidemarkmq/tidemark/schemas"
)

// ErrInvalid is wrapped by every validation failure of Validator.Validate.
var ErrInvalid = errors.New("invalid lifecycle event")

// Validator checks serialized envelopes against the published schemas. It
// is safe for concurrent use.
type Validator struct {
	envelope *jsonschema.Schema
}

// NewValidator compiles the schemas embedded from the schemas module.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	files, err := fs.Glob(schemas.FS, path.Join(schemas.Dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	for _, name := range files {
		b, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", name, err)
		}
		if err := c.AddResource(schemas.Base+path.Base(name), doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
	}
	env, err := c.Compile(schemas.Base + schemas.Envelope)
	if err != nil {
		return nil, fmt.Errorf("compile envelope schema: %w", err)
	}
	return &Validator{envelope: env}, nil
}

// Validate checks one lifecycle-topic record value: the envelope and its
// data against the schema its type names, and then that data decodes into
// the Go type with no unknown field. That last check is stricter than the
// published schemas (which admit unknown fields so v1 can grow): it is meant
// for tests of this repository's producers, where an unknown field is a bug.
func (v *Validator) Validate(b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: parse: %w", ErrInvalid, err)
	}
	if err := v.envelope.Validate(inst); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var raw envelopeJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	data := DataFor(raw.Type)
	if data == nil {
		return fmt.Errorf("%w: %w %q", ErrInvalid, ErrUnknownType, raw.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(raw.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(data); err != nil {
		return fmt.Errorf("%w: decode %s data: %w", ErrInvalid, raw.Type, err)
	}
	return nil
}

// defaultValidator is built on first use by ValidateJSON.
var defaultValidator = sync.OnceValues(NewValidator)

// ValidateJSON validates one serialized envelope with a shared Validator
// (see Validator.Validate). It is the helper other packages' tests call on
// every event they see produced.
func ValidateJSON(b []byte) error {
	v, err := defaultValidator()
	if err != nil {
		return err
	}
	return v.Validate(b)
}

// Validate marshals e and validates the result (see ValidateJSON).
func (e Envelope) Validate() error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return ValidateJSON(b)
}
