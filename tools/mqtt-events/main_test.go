package main

import (
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Config
		wantErr bool
	}{
		{
			name: "defaults",
			want: Config{Kafka: kafkalog.Plain("127.0.0.1:9092"), Topic: "mqtt.lifecycle", Interval: time.Second},
		},
		{
			name: "flags",
			args: []string{"--kafka", "k1:9092,k2:9092", "--topic", "t", "--from-beginning", "--client", "a,b", "--type", "connected,session.terminated", "--summary", "--interval", "2s", "--validate", "--until-end"},
			want: Config{Kafka: kafkalog.Plain("k1:9092", "k2:9092"), Topic: "t", FromBeginning: true, Clients: []string{"a", "b"},
				Types: []events.Type{events.ClientConnected, events.SessionTerminated}, Summary: true, Interval: 2 * time.Second, Validate: true, UntilEnd: true},
		},
		{
			name: "environment",
			env:  map[string]string{"TIDEMARK_KAFKA": "e:1", "TIDEMARK_FROM_BEGINNING": "true", "TIDEMARK_TYPE": "mqtt.client.disconnected"},
			want: Config{Kafka: kafkalog.Plain("e:1"), Topic: "mqtt.lifecycle", FromBeginning: true, Types: []events.Type{events.ClientDisconnected}, Interval: time.Second},
		},
		{
			name: "flags win over environment",
			args: []string{"--kafka", "f:1"},
			env:  map[string]string{"TIDEMARK_KAFKA": "e:1"},
			want: Config{Kafka: kafkalog.Plain("f:1"), Topic: "mqtt.lifecycle", Interval: time.Second},
		},
		{name: "bad env value", env: map[string]string{"TIDEMARK_SUMMARY": "maybe"}, wantErr: true},
		{name: "unknown type", args: []string{"--type", "teleported"}, wantErr: true},
		{name: "ambiguous type", args: []string{"--type", "disconnected,x"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseTypes(t *testing.T) {
	tests := []struct {
		in   string
		want []events.Type
		err  error
	}{
		{"", nil, nil},
		{"connected", []events.Type{events.ClientConnected}, nil},
		{"client.connected", []events.Type{events.ClientConnected}, nil},
		{"mqtt.client.connected", []events.Type{events.ClientConnected}, nil},
		{"connect_rejected, message_dropped", []events.Type{events.ClientConnectRejected, events.SessionMessageDropped}, nil},
		{"created,resumed,terminated,subscribed,unsubscribed,disconnected", []events.Type{
			events.SessionCreated, events.SessionResumed, events.SessionTerminated,
			events.SessionSubscribed, events.SessionUnsubscribed, events.ClientDisconnected}, nil},
		{"client", nil, ErrBadType},
		{"nected", nil, ErrBadType},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTypes(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("types = %v, want %v", got, tt.want)
			}
		})
	}
}
