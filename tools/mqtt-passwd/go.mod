module github.com/tidemarkmq/tidemark/tools/mqtt-passwd

go 1.26.0

replace (
	github.com/tidemarkmq/tidemark/pkg/auth => ../../pkg/auth
	github.com/tidemarkmq/tidemark/pkg/topic => ../../pkg/topic
)

require (
	github.com/tidemarkmq/tidemark/pkg/auth v0.0.0
	golang.org/x/term v0.46.0
)

require (
	github.com/tidemarkmq/tidemark/pkg/topic v0.0.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
