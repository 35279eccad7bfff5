module github.com/tidemarkmq/tidemark/services/frontend

go 1.26
