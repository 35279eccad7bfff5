module github.com/tidemarkmq/tidemark/pkg/mqtt

go 1.26
