module github.com/tidemarkmq/tidemark/tools/route-sim

go 1.26.0

require (
	github.com/segmentio/kafka-go v0.4.51
	github.com/tidemarkmq/tidemark/pkg/kafkalog v0.0.0
	github.com/tidemarkmq/tidemark/pkg/topic v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/tidemarkmq/tidemark/pkg/tlsfiles v0.0.0 // indirect
	github.com/xdg-go/pbkdf2 v1.0.0 // indirect
	github.com/xdg-go/scram v1.1.2 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	golang.org/x/text v0.23.0 // indirect
)

replace github.com/tidemarkmq/tidemark/pkg/kafkalog => ../../pkg/kafkalog

replace github.com/tidemarkmq/tidemark/pkg/tlsfiles => ../../pkg/tlsfiles

replace github.com/tidemarkmq/tidemark/pkg/topic => ../../pkg/topic
