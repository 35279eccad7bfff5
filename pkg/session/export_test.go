package session

import "time"

// SetWatchedPoll sets how often WaitApplied polls while an AppliedWatch is
// relied on, and how long one stays relied on without announcements, and
// returns the restore.
func SetWatchedPoll(poll, quiet time.Duration) func() {
	oldPoll, oldQuiet := watchedPoll, quietAfter
	watchedPoll, quietAfter = poll, quiet
	return func() { watchedPoll, quietAfter = oldPoll, oldQuiet }
}
