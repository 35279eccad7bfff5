module github.com/tidemarkmq/tidemark/services/sessiond

go 1.26
