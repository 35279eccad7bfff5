module github.com/tidemarkmq/tidemark/pkg/mqtt

go 1.26

require (
	github.com/eclipse/paho.golang v0.23.0
	github.com/eclipse/paho.mqtt.golang v1.5.1
)
