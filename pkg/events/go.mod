module github.com/tidemarkmq/tidemark/pkg/events

go 1.26
