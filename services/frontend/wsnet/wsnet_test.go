package wsnet

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestStreamAcrossFrames: the adapter is a byte stream whatever the
// framing: bytes split over frames and several packets in one frame read
// back in order, and writes arrive as binary frames.
func TestStreamAcrossFrames(t *testing.T) {
	got := make(chan []byte, 1)
	srv := httptest.NewServer(Handler(func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Errorf("read: %v", err)
			return
		}
		got <- buf
		if _, err := c.Write([]byte("pong")); err != nil {
			t.Errorf("write: %v", err)
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + Path
	ws, _, err := (&websocket.Dialer{Subprotocols: []string{Subprotocol}}).Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	for _, frame := range []string{"ab", "c", "defg"} {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case b := <-got:
		if string(b) != "abcdefg" {
			t.Fatalf("server read %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server read nothing")
	}
	mt, msg, err := ws.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || string(msg) != "pong" {
		t.Fatalf("got %d %q %v, want binary pong", mt, msg, err)
	}
}

func TestHandshakeNeedsSubprotocol(t *testing.T) {
	srv := httptest.NewServer(Handler(func(c net.Conn) { c.Close() }))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + Path
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("handshake without subprotocol: err %v resp %v, want 400", err, resp)
	}
}

func TestTextFrameRefused(t *testing.T) {
	errc := make(chan error, 1)
	srv := httptest.NewServer(Handler(func(c net.Conn) {
		defer c.Close()
		_, err := c.Read(make([]byte, 4))
		errc <- err
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + Path
	ws, _, err := (&websocket.Dialer{Subprotocols: []string{Subprotocol}}).Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte("text"))
	if err := <-errc; !errors.Is(err, ErrTextFrame) {
		t.Fatalf("read error %v, want ErrTextFrame", err)
	}
}
