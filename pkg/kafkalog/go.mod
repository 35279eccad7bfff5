module github.com/tidemarkmq/tidemark/pkg/kafkalog

go 1.26
