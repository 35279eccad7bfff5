package auth

import "context"

// PasswordFile is a password file that reloads itself when it changes.
// Safe for concurrent use.
type PasswordFile struct {
	w *watched[Passwords]
}

// OpenPasswordFile reads and parses the password file at path. It fails if
// the file cannot be read or parsed; later failures keep the last good
// version. Call Run to watch the file.
func OpenPasswordFile(path string, opt WatchOptions) (*PasswordFile, error) {
	w, err := newWatched(path, "password file", opt, ParsePasswords)
	if err != nil {
		return nil, err
	}
	return &PasswordFile{w: w}, nil
}

// Run checks the file for changes every interval until ctx ends; it
// returns nil then.
func (f *PasswordFile) Run(ctx context.Context) error { return f.w.run(ctx) }

// Reload checks the file now. It returns the parse error of a changed
// file that was not taken (the previous version stays in force).
func (f *PasswordFile) Reload() error { return f.w.reload() }

// Current returns the version in force.
func (f *PasswordFile) Current() *Passwords { return f.w.cur.Load() }

// Verify checks user and password against the version in force; see
// Passwords.Verify.
func (f *PasswordFile) Verify(user string, password []byte, hasPassword bool) error {
	return f.Current().Verify(user, password, hasPassword)
}
