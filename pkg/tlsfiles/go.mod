module github.com/tidemarkmq/tidemark/pkg/tlsfiles

go 1.26.0
