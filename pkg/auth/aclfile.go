package auth

// ACLFile is an ACL file that reloads itself when it changes. Safe for
// concurrent use.
type ACLFile struct {
	*watched[ACL] // Run, Reload, Current
}

// OpenACLFile reads and parses the ACL file at path. It fails if the file
// cannot be read or parsed; later failures keep the last good version.
// Call Run to watch the file.
func OpenACLFile(path string, opt WatchOptions) (*ACLFile, error) {
	w, err := newWatched(path, "ACL file", opt, ParseACL)
	if err != nil {
		return nil, err
	}
	return &ACLFile{w}, nil
}

// CanPublish applies ACL.CanPublish of the version in force.
func (f *ACLFile) CanPublish(c Client, name string) bool { return f.Current().CanPublish(c, name) }

// CanRead applies ACL.CanRead of the version in force.
func (f *ACLFile) CanRead(c Client, name string) bool { return f.Current().CanRead(c, name) }

// CanSubscribe applies ACL.CanSubscribe of the version in force.
func (f *ACLFile) CanSubscribe(c Client, filter string) SubAccess {
	return f.Current().CanSubscribe(c, filter)
}
