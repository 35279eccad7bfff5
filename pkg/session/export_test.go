package session

import "time"

// AnnouncedUpTo returns the highest offset w heard announced for sessions
// partition n.
func AnnouncedUpTo(w *AppliedWatch, n int) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied[n]
}

// SetWatchedPoll sets how often WaitApplied polls while an AppliedWatch is
// relied on, and how long one stays relied on without announcements, and
// returns the restore.
func SetWatchedPoll(poll, quiet time.Duration) func() {
	oldPoll, oldQuiet := watchedPoll, quietAfter
	watchedPoll, quietAfter = poll, quiet
	return func() { watchedPoll, quietAfter = oldPoll, oldQuiet }
}
