// Package topic validates MQTT topic names and filters, matches names
// against filters, parses shared-subscription filters and keeps a
// subscription index for local delivery.
//
// Everything here follows MQTT 5.0 section 4.7 (identical in 3.1.1 section
// 4.7 for the parts 3.1.1 has); comments cite the normative statements.
package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic name or filter in bytes: a UTF-8 string in an
// MQTT packet has a two-byte length prefix [MQTT-1.5.4-x].
const MaxLen = 65535

// SharePrefix starts a shared subscription filter: $share/{group}/{filter}.
const SharePrefix = "$share/"

// Validation errors; every error returned by ValidateName, ValidateFilter
// and ParseShared wraps one of them.
var (
	// ErrEmpty: topic names and filters are at least one character long
	// [MQTT-4.7.3-1].
	ErrEmpty = errors.New("empty topic")
	// ErrTooLong: longer than MaxLen bytes.
	ErrTooLong = errors.New("topic longer than 65535 bytes")
	// ErrNull: U+0000 is not allowed in topic names or filters
	// [MQTT-4.7.3-2].
	ErrNull = errors.New("topic contains U+0000")
	// ErrUTF8: not well-formed UTF-8 [MQTT-1.5.4-1].
	ErrUTF8 = errors.New("topic is not valid utf-8")
	// ErrWildcardInName: topic names carry no wildcards [MQTT-4.7.0-1].
	ErrWildcardInName = errors.New("wildcard in topic name")
	// ErrBadWildcard: '#' must be last and alone in its level
	// [MQTT-4.7.1-1], '+' alone in its level [MQTT-4.7.1-2].
	ErrBadWildcard = errors.New("misplaced wildcard in topic filter")
	// ErrBadShare: a $share filter without a valid group or filter
	// [MQTT-4.8.2-1], [MQTT-4.8.2-2].
	ErrBadShare = errors.New("invalid shared subscription")
)

// validateString checks the rules names and filters share.
func validateString(s string) error {
	switch {
	case s == "":
		return ErrEmpty
	case len(s) > MaxLen:
		return ErrTooLong
	case strings.IndexByte(s, 0) >= 0:
		return ErrNull
	case !utf8.ValidString(s):
		return ErrUTF8
	}
	return nil
}

// ValidateName reports whether name may be used in a PUBLISH.
func ValidateName(name string) error {
	if err := validateString(name); err != nil {
		return err
	}
	if i := strings.IndexAny(name, "+#"); i >= 0 {
		return fmt.Errorf("%w: %q at byte %d", ErrWildcardInName, name[i], i)
	}
	return nil
}

// ValidateFilter reports whether filter may be used in a SUBSCRIBE or
// UNSUBSCRIBE. It does not interpret $share; see ParseShared.
func ValidateFilter(filter string) error {
	if err := validateString(filter); err != nil {
		return err
	}
	rest := filter
	for {
		level, tail, more := strings.Cut(rest, "/")
		if len(level) > 1 && strings.ContainsAny(level, "+#") {
			return fmt.Errorf("%w: level %q", ErrBadWildcard, level)
		}
		if level == "#" && more {
			return fmt.Errorf("%w: '#' not last", ErrBadWildcard)
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// Match reports whether the topic name matches the filter. Both are assumed
// valid. A filter starting with a wildcard does not match a name starting
// with '$' [MQTT-4.7.2-1]; "a/#" matches "a" (the parent level) as well as
// everything below it [MQTT-4.7.1-2].
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		flevel, frest, fmore := strings.Cut(filter, "/")
		if flevel == "#" {
			return true
		}
		nlevel, nrest, nmore := strings.Cut(name, "/")
		if flevel != "+" && flevel != nlevel {
			return false
		}
		switch {
		case fmore && nmore:
			filter, name = frest, nrest
		case !fmore && !nmore:
			return true
		case fmore:
			// The name has ended: only a trailing "/#" still matches.
			return frest == "#"
		default:
			return false
		}
	}
}

// ParseShared splits a shared subscription filter "$share/{group}/{filter}".
// For a filter that does not start with "$share/" it returns ok false, the
// filter unchanged and no error. A shared filter with an empty group, a
// group containing '+' or '#', or an empty or invalid filter gives an error
// wrapping ErrBadShare.
func ParseShared(shared string) (group, filter string, ok bool, err error) {
	rest, found := strings.CutPrefix(shared, SharePrefix)
	if !found {
		if shared == "$share" {
			return "", "", true, fmt.Errorf("%w: no share name", ErrBadShare)
		}
		return "", shared, false, nil
	}
	group, filter, found = strings.Cut(rest, "/")
	switch {
	case group == "":
		return "", "", true, fmt.Errorf("%w: empty share name", ErrBadShare)
	case strings.ContainsAny(group, "+#"):
		return "", "", true, fmt.Errorf("%w: wildcard in share name %q", ErrBadShare, group)
	case !found || filter == "":
		return "", "", true, fmt.Errorf("%w: no topic filter", ErrBadShare)
	}
	if err := ValidateFilter(filter); err != nil {
		return "", "", true, fmt.Errorf("%w: %w", ErrBadShare, err)
	}
	return group, filter, true, nil
}
