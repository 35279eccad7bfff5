// Package e2e holds the cross-service integration tests: real MQTT clients
// over real sockets against frontends and a session service running on the
// real Kafka and Redis of the test stack (`make test` starts them). They
// check the behaviour of ../../shared/SESSIONS.md end to end and the
// invariants of the architecture that no single service can show alone.
package e2e
