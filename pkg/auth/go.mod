module github.com/tidemarkmq/tidemark/pkg/auth

go 1.26.0

require github.com/tidemarkmq/tidemark/pkg/topic v0.0.0

require (
	golang.org/x/crypto v0.57.0
	golang.org/x/sys v0.48.0 // indirect
)

replace github.com/tidemarkmq/tidemark/pkg/topic => ../topic
