package auth

// PasswordFile is a password file that reloads itself when it changes.
// Safe for concurrent use.
type PasswordFile struct {
	*watched[Passwords] // Run, Reload, Current
}

// OpenPasswordFile reads and parses the password file at path. It fails if
// the file cannot be read or parsed; later failures keep the last good
// version. Call Run to watch the file.
func OpenPasswordFile(path string, opt WatchOptions) (*PasswordFile, error) {
	w, err := newWatched(path, "password file", opt, ParsePasswords)
	if err != nil {
		return nil, err
	}
	return &PasswordFile{w}, nil
}

// Verify checks user and password against the version in force; see
// Passwords.Verify.
func (f *PasswordFile) Verify(user string, password []byte, hasPassword bool) error {
	return f.Current().Verify(user, password, hasPassword)
}
