package kafkalog

import (
	"log/slog"
	"time"
)

// quietFor is how long a run of failures of one retried operation stays
// at debug level: a partition whose leader is being elected, or a topic
// created a moment ago, fails briefly as a matter of course, and an
// operator should not be warned about that. An outage lasts longer.
const quietFor = 3 * time.Second

// streak follows a run of failures of one retried operation, so that it
// is logged once when it has lasted quietFor and once when it ends.
type streak struct {
	since time.Time // the first failure of the run; zero when none
	loud  bool      // the run has been reported as a warning
}

// fail records a failure; it reports whether the run has just become loud,
// the caller then warning with msg's own words.
func (s *streak) fail(log *slog.Logger, msg string, args ...any) bool {
	now := time.Now()
	if s.since.IsZero() {
		s.since = now
	}
	if s.loud {
		return false
	}
	if now.Sub(s.since) < quietFor {
		log.Debug(msg, args...)
		return false
	}
	s.loud = true
	return true
}

// ok ends the run; it reports whether the run had been loud.
func (s *streak) ok() bool {
	loud := s.loud
	*s = streak{}
	return loud
}
