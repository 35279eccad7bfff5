module github.com/tidemarkmq/tidemark/pkg/topic

go 1.26
