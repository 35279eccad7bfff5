module github.com/tidemarkmq/tidemark/pkg/events

go 1.26

require github.com/google/uuid v1.6.0
