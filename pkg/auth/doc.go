// Package auth authenticates MQTT clients and authorizes what they publish
// and subscribe to, with the file formats Mosquitto uses, so that teams can
// bring the files they already have:
//
//   - a password file as mosquitto_passwd writes it (PBKDF2-SHA512 "$7$"
//     lines from Mosquitto 2.0, argon2id PHC lines from Mosquitto 2.1, and
//     the old salted SHA-512 "$6$" lines);
//   - an ACL file (user sections, topic and pattern rules with %c and %u);
//   - TLS client certificates as identities.
//
// Both files are watched and reloaded when they change (a Kubernetes Secret
// update included); a file that fails to parse leaves the last good version
// in force. The package knows nothing about connections: a broker adapts
// Authorizer to its own plug-in point.
package auth

import "errors"

// Verdicts of Authorizer.Connect. They map to CONNACK codes: 3.1.1 0x04 and
// 0x05, MQTT 5 0x86 and 0x87.
var (
	// ErrBadCredentials: unknown user, wrong password, or no password.
	// Deliberately one error for all three, so that a client cannot learn
	// whether a user name exists.
	ErrBadCredentials = errors.New("bad user name or password")
	// ErrNotAuthorized: the client is not allowed in, for a reason other
	// than its credentials (anonymous access is off).
	ErrNotAuthorized = errors.New("not authorized")
)

// File format errors. Every error returned by the parsers wraps ErrSyntax
// and, for a problem on one line, is a *LineError naming that line.
var (
	// ErrSyntax: a password or ACL file does not parse.
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownHash: a password hash in a format this package cannot
	// verify.
	ErrUnknownHash = errors.New("unknown password hash format")
)
