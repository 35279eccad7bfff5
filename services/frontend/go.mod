module github.com/tidemarkmq/tidemark/services/frontend

go 1.26.0

require (
	github.com/eclipse/paho.golang v0.23.0
	github.com/eclipse/paho.mqtt.golang v1.5.1
	github.com/google/uuid v1.6.0
	github.com/gorilla/websocket v1.5.3
	github.com/prometheus/client_golang v1.25.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/tidemarkmq/tidemark/pkg/auth v0.0.0
	github.com/tidemarkmq/tidemark/pkg/events v0.0.0
	github.com/tidemarkmq/tidemark/pkg/kafkalog v0.0.0
	github.com/tidemarkmq/tidemark/pkg/mqtt v0.0.0
	github.com/tidemarkmq/tidemark/pkg/session v0.0.0
	github.com/tidemarkmq/tidemark/pkg/startup v0.0.0
	github.com/tidemarkmq/tidemark/pkg/telemetry v0.0.0
	github.com/tidemarkmq/tidemark/pkg/topic v0.0.0
	github.com/tidemarkmq/tidemark/services/sessiond v0.0.0
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/sdk v1.47.0
	go.opentelemetry.io/otel/trace v1.47.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/xdg-go/pbkdf2 v1.0.0 // indirect
	github.com/xdg-go/scram v1.1.2 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cenkalti/backoff/v5 v5.0.3 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.30.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	github.com/segmentio/kafka-go v0.4.51 // indirect
	github.com/tidemarkmq/tidemark/pkg/tlsfiles v0.0.0
	github.com/tidemarkmq/tidemark/schemas v0.0.0 // indirect
	github.com/twmb/franz-go v1.22.3 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace v1.47.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc v1.47.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp v1.47.0 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.opentelemetry.io/proto/otlp v1.11.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/grpc v1.83.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/tidemarkmq/tidemark/pkg/auth => ../../pkg/auth
	github.com/tidemarkmq/tidemark/pkg/events => ../../pkg/events
	github.com/tidemarkmq/tidemark/pkg/kafkalog => ../../pkg/kafkalog
	github.com/tidemarkmq/tidemark/pkg/mqtt => ../../pkg/mqtt
	github.com/tidemarkmq/tidemark/pkg/session => ../../pkg/session
	github.com/tidemarkmq/tidemark/pkg/startup => ../../pkg/startup
	github.com/tidemarkmq/tidemark/pkg/telemetry => ../../pkg/telemetry
	github.com/tidemarkmq/tidemark/pkg/topic => ../../pkg/topic
	github.com/tidemarkmq/tidemark/schemas => ../../schemas
	github.com/tidemarkmq/tidemark/services/sessiond => ../sessiond
)

replace github.com/tidemarkmq/tidemark/pkg/tlsfiles => ../../pkg/tlsfiles
