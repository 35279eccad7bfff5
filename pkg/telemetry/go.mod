module github.com/tidemarkmq/tidemark/pkg/telemetry

go 1.26
