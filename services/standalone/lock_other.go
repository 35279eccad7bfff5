//go:build !unix

package standalone

import "errors"

// ErrDataDirInUse is returned when another process runs on the same data
// directory; without flock it is never detected on this platform.
var ErrDataDirInUse = errors.New("data dir in use by another process")

func lockDir(string) (func(), error) { return func() {}, nil }
