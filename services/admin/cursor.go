package admin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
)

// Cursors are opaque to clients: base64url of a small JSON document that
// names what it pages (so a cursor of one listing is refused by another)
// and where the next page starts.
type cursor struct {
	Kind string `json:"k"`
	// sessions: sessions partition and the last ClientID listed.
	Part  int    `json:"p,omitempty"`
	After string `json:"a,omitempty"`
	// history: the next offsets (exclusive upper bounds) in the sessions
	// and lifecycle partitions.
	Ops    int64 `json:"o,omitempty"`
	Events int64 `json:"e,omitempty"`
}

// Cursor kinds.
const (
	cursorSessions = "s"
	cursorHistory  = "h"
	cursorRetained = "r"
)

var errBadCursor = errors.New("bad cursor: pass back next_cursor as it was given")

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses s as a cursor of kind; "" is the start.
func decodeCursor(s, kind string) (cursor, error) {
	if s == "" {
		return cursor{Kind: kind}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, errBadCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Kind != kind || c.Part < 0 || c.Ops < 0 || c.Events < 0 {
		return cursor{}, errBadCursor
	}
	return c, nil
}
