// Package wsnet adapts MQTT over WebSocket (binary frames, subprotocol "mqtt")
// to a net.Conn, so that the connection code serves TCP, TLS, WS and WSS alike.
//
// MQTT packets may span WebSocket frames and a frame may hold several packets
// [MQTT-6.0.0-2]: the adapter is a plain byte stream over the frames.
package wsnet

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocol is the WebSocket subprotocol MQTT clients must offer [MQTT-6.0.0-3].
const Subprotocol = "mqtt"

// Path is where the listener accepts WebSocket upgrades.
const Path = "/mqtt"

// ErrTextFrame is returned by Read when the peer sends a non-binary frame,
// which MQTT forbids [MQTT-6.0.0-1].
var ErrTextFrame = errors.New("websocket: non-binary frame")

// Conn is a net.Conn over one WebSocket connection.
type Conn struct {
	ws *websocket.Conn
	r  io.Reader // current frame reader, nil between frames

	wmu sync.Mutex // serialises writers; gorilla allows one concurrent writer
}

// NewConn wraps an upgraded WebSocket connection.
func NewConn(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// Read reads the next bytes of the binary stream, crossing frame boundaries.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				return 0, ErrTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Write sends p as one binary frame.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame (best effort) and closes the socket.
func (c *Conn) Close() error {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.ws.Close()
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.ws.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

// Handler upgrades requests on Path to MQTT connections and hands each to
// serve. It refuses a handshake that does not offer the "mqtt" subprotocol.
func Handler(serve func(net.Conn)) http.Handler {
	up := websocket.Upgrader{
		Subprotocols:    []string{Subprotocol},
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		// MQTT clients are not browsers bound to an origin; any origin may connect.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, func(w http.ResponseWriter, r *http.Request) {
		if !offers(r, Subprotocol) {
			http.Error(w, "subprotocol mqtt required", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader already answered
		}
		serve(NewConn(ws))
	})
	return mux
}

func offers(r *http.Request, proto string) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == proto {
			return true
		}
	}
	return false
}
