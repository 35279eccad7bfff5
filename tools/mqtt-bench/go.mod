module github.com/tidemarkmq/tidemark/tools/mqtt-bench

go 1.26

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2
	github.com/segmentio/kafka-go v0.4.51
	github.com/tidemarkmq/tidemark/pkg/mqtt v0.0.0
)

require (
	github.com/klauspost/compress v1.15.9 // indirect
	github.com/pierrec/lz4/v4 v4.1.15 // indirect
)

replace github.com/tidemarkmq/tidemark/pkg/mqtt => ../../pkg/mqtt
