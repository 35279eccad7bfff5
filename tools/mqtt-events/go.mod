module github.com/tidemarkmq/tidemark/tools/mqtt-events

go 1.26
