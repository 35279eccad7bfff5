module github.com/tidemarkmq/tidemark/tools/mqtt-admin

go 1.26.0

require github.com/tidemarkmq/tidemark/pkg/adminapi v0.0.0

replace github.com/tidemarkmq/tidemark/pkg/adminapi => ../../pkg/adminapi
