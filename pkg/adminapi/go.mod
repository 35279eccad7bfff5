module github.com/tidemarkmq/tidemark/pkg/adminapi

go 1.26.0
