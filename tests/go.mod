module github.com/tidemarkmq/tidemark/tests

go 1.26
