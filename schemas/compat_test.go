package schemas

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"testing"
)

// released is the frozen copy of v1 as first published. The current
// lifecycle/v1 may only change compatibly against it (see README.md).
const released = "released/v1"

// readDir parses every schema file of dir.
func readDir(t *testing.T, fsys fs.FS, dir string) map[string]map[string]any {
	t.Helper()
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no schema in %s", dir)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		out[path.Base(f)] = m
	}
	return out
}

// incompatible lists the ways the schemas in cur break consumers or
// producers of old: a removed file or field, a changed type, a field that
// became required or optional, a removed enum value, a narrowed constraint.
func incompatible(old, cur map[string]map[string]any) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(old)) {
		c, ok := cur[name]
		if !ok {
			out = append(out, name+": schema removed")
			continue
		}
		out = append(out, compareNode(name, old[name], c)...)
	}
	return out
}

// values returns the allowed values of a node given as enum, const or
// oneOf-of-consts, and whether it restricts values at all.
func values(n map[string]any) ([]string, bool) {
	var vs []string
	restricted := false
	if e, ok := n["enum"].([]any); ok {
		restricted = true
		for _, v := range e {
			vs = append(vs, fmt.Sprint(v))
		}
	}
	if c, ok := n["const"]; ok {
		restricted = true
		vs = append(vs, fmt.Sprint(c))
	}
	if one, ok := n["oneOf"].([]any); ok {
		for _, alt := range one {
			a, _ := alt.(map[string]any)
			if c, ok := a["const"]; ok {
				restricted = true
				vs = append(vs, fmt.Sprint(c))
			}
		}
	}
	return vs, restricted
}

// number reads a numeric keyword.
func number(n map[string]any, key string) (float64, bool) {
	v, ok := n[key].(float64)
	return v, ok
}

func stringSet(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	sort.Strings(out)
	return out
}

func compareNode(at string, old, cur map[string]any) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, at+": "+fmt.Sprintf(format, args...)) }

	if !reflect.DeepEqual(old["type"], cur["type"]) {
		bad("type changed from %v to %v", old["type"], cur["type"])
	}
	if !reflect.DeepEqual(old["$ref"], cur["$ref"]) {
		bad("$ref changed from %v to %v", old["$ref"], cur["$ref"])
	}
	ov, oRestricted := values(old)
	cv, cRestricted := values(cur)
	switch {
	case cRestricted && !oRestricted:
		bad("values restricted to %v", cv)
	case oRestricted:
		for _, v := range ov {
			if !slices.Contains(cv, v) {
				bad("value %s removed", v)
			}
		}
	}
	for _, key := range []string{"minimum", "exclusiveMinimum", "minLength", "minItems"} {
		o, oOK := number(old, key)
		c, cOK := number(cur, key)
		if cOK && (!oOK || c > o) {
			bad("%s narrowed to %v", key, c)
		}
	}
	for _, key := range []string{"maximum", "exclusiveMaximum", "maxLength", "maxItems"} {
		o, oOK := number(old, key)
		c, cOK := number(cur, key)
		if cOK && (!oOK || c < o) {
			bad("%s narrowed to %v", key, c)
		}
	}
	for _, key := range []string{"pattern", "format"} {
		if c, ok := cur[key]; ok && !reflect.DeepEqual(old[key], c) {
			bad("%s changed to %v", key, c)
		}
	}
	if ap, ok := cur["additionalProperties"].(bool); ok && !ap {
		if oap, ok := old["additionalProperties"].(bool); !ok || oap {
			bad("additionalProperties closed")
		}
	}
	if o, c := stringSet(old["required"]), stringSet(cur["required"]); !slices.Equal(o, c) {
		bad("required changed from %v to %v", o, c)
	}
	oprops, _ := old["properties"].(map[string]any)
	cprops, _ := cur["properties"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(oprops)) {
		cp, ok := cprops[name].(map[string]any)
		if !ok {
			bad("property %s removed", name)
			continue
		}
		op, _ := oprops[name].(map[string]any)
		out = append(out, compareNode(at+"."+name, op, cp)...)
	}
	for _, key := range []string{"items", "if", "then", "else"} {
		o, oOK := old[key].(map[string]any)
		c, cOK := cur[key].(map[string]any)
		switch {
		case oOK && cOK:
			out = append(out, compareNode(at+"/"+key, o, c)...)
		case oOK != cOK:
			bad("%s added or removed", key)
		}
	}
	oall, _ := old["allOf"].([]any)
	call, _ := cur["allOf"].([]any)
	if len(call) < len(oall) {
		bad("allOf entries removed")
	}
	for i := range min(len(oall), len(call)) {
		o, _ := oall[i].(map[string]any)
		c, _ := call[i].(map[string]any)
		out = append(out, compareNode(fmt.Sprintf("%s/allOf/%d", at, i), o, c)...)
	}
	return out
}

// TestCurrentCompatibleWithReleased is the gate of the versioning rules:
// it fails when lifecycle/v1 breaks the released v1.
func TestCurrentCompatibleWithReleased(t *testing.T) {
	fsys := os.DirFS(".")
	old := readDir(t, fsys, released)
	cur := readDir(t, FS, Dir)
	for _, p := range incompatible(old, cur) {
		t.Error(p)
	}
}

// TestEmbeddedMatchesDisk guards against an embed pattern that misses
// files.
func TestEmbeddedMatchesDisk(t *testing.T) {
	disk := readDir(t, os.DirFS("."), Dir)
	emb := readDir(t, FS, Dir)
	if !reflect.DeepEqual(disk, emb) {
		t.Fatalf("embedded schemas differ from the files: %v vs %v", slices.Sorted(maps.Keys(emb)), slices.Sorted(maps.Keys(disk)))
	}
}

// TestCompatibilityRules shows that each rule of README.md is enforced:
// every breaking change is reported and every allowed one is not.
func TestCompatibilityRules(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		mutate   func(s map[string]any)
		breaking bool
	}{
		{"unchanged", "client.connected.json", func(map[string]any) {}, false},
		{"new optional field", "client.connected.json", func(s map[string]any) {
			prop(s)["receive_max"] = map[string]any{"type": "integer", "description": "x"}
		}, false},
		{"new enum value", "client.disconnected.json", func(s map[string]any) {
			r := prop(s)["reason"].(map[string]any)
			r["oneOf"] = append(r["oneOf"].([]any), map[string]any{"const": "banned", "description": "x"})
		}, false},
		{"description changed", "session.created.json", func(s map[string]any) { s["description"] = "reworded" }, false},
		{"constraint widened", "session.message_dropped.json", func(s map[string]any) {
			prop(s)["count"].(map[string]any)["minimum"] = 0.0
		}, false},
		{"new event type", "envelope.json", func(s map[string]any) {
			ty := prop(s)["type"].(map[string]any)
			ty["enum"] = append(ty["enum"].([]any), "mqtt.client.teleported")
			s["allOf"] = append(s["allOf"].([]any), map[string]any{"if": map[string]any{}})
		}, false},
		{"removed field", "client.connected.json", func(s map[string]any) { delete(prop(s), "username") }, true},
		{"new required field", "client.connected.json", func(s map[string]any) {
			prop(s)["receive_max"] = map[string]any{"type": "integer"}
			s["required"] = append(s["required"].([]any), "receive_max")
		}, true},
		{"required became optional", "client.connected.json", func(s map[string]any) {
			s["required"] = slices.DeleteFunc(s["required"].([]any), func(v any) bool { return v == "peer" })
		}, true},
		{"type change", "client.connected.json", func(s map[string]any) {
			prop(s)["keepalive"].(map[string]any)["type"] = "string"
		}, true},
		{"removed enum value", "session.terminated.json", func(s map[string]any) {
			r := prop(s)["reason"].(map[string]any)
			r["oneOf"] = r["oneOf"].([]any)[1:]
		}, true},
		{"removed event type", "envelope.json", func(s map[string]any) {
			ty := prop(s)["type"].(map[string]any)
			ty["enum"] = ty["enum"].([]any)[1:]
		}, true},
		{"narrowed maximum", "client.connected.json", func(s map[string]any) {
			prop(s)["keepalive"].(map[string]any)["maximum"] = 1000.0
		}, true},
		{"narrowed minimum", "session.message_dropped.json", func(s map[string]any) {
			prop(s)["partition"].(map[string]any)["minimum"] = 1.0
		}, true},
		{"new pattern", "client.connected.json", func(s map[string]any) {
			prop(s)["peer"].(map[string]any)["pattern"] = "^[0-9.]+:[0-9]+$"
		}, true},
		{"nested field removed", "session.subscribed.json", func(s map[string]any) {
			items := prop(s)["subscriptions"].(map[string]any)["items"].(map[string]any)
			delete(items["properties"].(map[string]any), "no_local")
		}, true},
		{"closed to unknown fields", "session.resumed.json", func(s map[string]any) { s["additionalProperties"] = false }, true},
		{"schema removed", "session.resumed.json", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := readDir(t, os.DirFS("."), released)
			cur := readDir(t, os.DirFS("."), released)
			if tt.mutate == nil {
				delete(cur, tt.file)
			} else {
				tt.mutate(cur[tt.file])
			}
			problems := incompatible(old, cur)
			if (len(problems) > 0) != tt.breaking {
				t.Fatalf("breaking = %v, want %v (problems %v)", len(problems) > 0, tt.breaking, problems)
			}
		})
	}
}

func prop(s map[string]any) map[string]any { return s["properties"].(map[string]any) }
