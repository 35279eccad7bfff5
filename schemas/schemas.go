// Package schemas embeds the published JSON Schemas (2020-12) of the
// lifecycle events, so Go code validates against exactly the files that
// consumers read. See README.md for the versioning rules.
package schemas

import "embed"

// FS holds lifecycle/v1/*.json: one schema per event type plus
// envelope.json, each with an $id under Base.
//
//go:embed lifecycle/v1/*.json
var FS embed.FS

// Dir is the directory of the current schemas inside FS.
const Dir = "lifecycle/v1"

// Base is the $id prefix of every schema in Dir.
const Base = "https://schemas.tidemark.dev/lifecycle/v1/"

// Envelope is the file name of the envelope schema in Dir.
const Envelope = "envelope.json"
