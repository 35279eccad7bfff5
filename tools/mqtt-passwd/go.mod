module github.com/tidemarkmq/tidemark/tools/mqtt-passwd

go 1.26.0

replace (
	github.com/tidemarkmq/tidemark/pkg/auth => ../../pkg/auth
	github.com/tidemarkmq/tidemark/pkg/topic => ../../pkg/topic
)
