package session

import "time"

// SetWatchedPoll sets how often WaitApplied polls while an AppliedWatch is
// live, and returns the restore.
func SetWatchedPoll(d time.Duration) func() {
	old := watchedPoll
	watchedPoll = d
	return func() { watchedPoll = old }
}
