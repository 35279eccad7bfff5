module github.com/tidemarkmq/tidemark/pkg/session

go 1.26
