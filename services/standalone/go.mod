module github.com/tidemarkmq/tidemark/services/standalone

go 1.26
