package tlsfiles

import (
	"fmt"
	"os"
	"strings"
)

// ReadSecret reads a secret (a password) from a file, as Kubernetes
// mounts a Secret; a trailing newline, as editors and `echo` leave, is not
// part of it. Callers read it again for each new connection, so a rotated
// Secret is picked up without a restart.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("read secret %s: file is empty", path)
	}
	return s, nil
}
