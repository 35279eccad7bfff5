module github.com/tidemarkmq/tidemark/tools/mqtt-bench

go 1.26
