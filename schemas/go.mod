module github.com/tidemarkmq/tidemark/schemas

go 1.26
