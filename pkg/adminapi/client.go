package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StatusError is a response that was not a success.
type StatusError struct {
	Code    int    // HTTP status
	Message string // the server's error text
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Client calls the admin API of one server.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the server at addr (host:port, or a URL
// with http:// or https://), sending token as its bearer token. A nil hc
// uses a client with a 60 s timeout.
func NewClient(addr, token string, hc *http.Client) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: strings.TrimRight(addr, "/") + Base, token: token, http: hc}
}

// do sends one request and decodes a success into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if res.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &StatusError{Code: res.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// sessionPath is the path of one session; the ClientID is escaped as one
// path segment (a ClientID may hold '/').
func sessionPath(cid string) string { return "/sessions/" + url.PathEscape(cid) }

// SessionQuery filters and pages GET /sessions.
type SessionQuery struct {
	State  string // online, offline or empty for both
	Node   string
	Prefix string
	Limit  int // 0: the server's default
	Cursor string
}

// Sessions lists one page of sessions.
func (c *Client) Sessions(ctx context.Context, q SessionQuery) (SessionList, error) {
	v := url.Values{}
	set(v, "state", q.State)
	set(v, "node", q.Node)
	set(v, "prefix", q.Prefix)
	set(v, "cursor", q.Cursor)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out SessionList
	return out, c.do(ctx, http.MethodGet, "/sessions", v, nil, &out)
}

// Session reads one session.
func (c *Client) Session(ctx context.Context, cid string) (Session, error) {
	var out Session
	return out, c.do(ctx, http.MethodGet, sessionPath(cid), nil, nil, &out)
}

// HistoryQuery pages GET /sessions/{clientid}/history.
type HistoryQuery struct {
	Limit  int
	Cursor string
	// Source is op, event or empty for both.
	Source string
	// Verbose includes the progress and QoS 2 ops.
	Verbose bool
}

// History reads one page of a session's history, newest first.
func (c *Client) History(ctx context.Context, cid string, q HistoryQuery) (History, error) {
	v := url.Values{}
	set(v, "cursor", q.Cursor)
	set(v, "source", q.Source)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Verbose {
		v.Set("verbose", "true")
	}
	var out History
	return out, c.do(ctx, http.MethodGet, sessionPath(cid)+"/history", v, nil, &out)
}

// Explain says what became of the message at partition/offset of the
// messages topic for the session.
func (c *Client) Explain(ctx context.Context, cid string, partition int, offset int64) (Explanation, error) {
	v := url.Values{"partition": {strconv.Itoa(partition)}, "offset": {strconv.FormatInt(offset, 10)}}
	var out Explanation
	return out, c.do(ctx, http.MethodGet, sessionPath(cid)+"/explain", v, nil, &out)
}

// Disconnect ends the session's connection (MQTT 5: DISCONNECT 0x98).
func (c *Client) Disconnect(ctx context.Context, cid string) (ActionResult, error) {
	var out ActionResult
	return out, c.do(ctx, http.MethodPost, sessionPath(cid)+"/disconnect", nil, nil, &out)
}

// Discard ends the session, connected or not.
func (c *Client) Discard(ctx context.Context, cid string) (ActionResult, error) {
	var out ActionResult
	return out, c.do(ctx, http.MethodDelete, sessionPath(cid), nil, nil, &out)
}

// Unsubscribe removes one subscription from the session.
func (c *Client) Unsubscribe(ctx context.Context, cid, filter string) (ActionResult, error) {
	var out ActionResult
	return out, c.do(ctx, http.MethodDelete, sessionPath(cid)+"/subscriptions", url.Values{"filter": {filter}}, nil, &out)
}

// Publish logs a message; it returns once Kafka acknowledged it.
func (c *Client) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	var out PublishResult
	return out, c.do(ctx, http.MethodPost, "/publish", nil, req, &out)
}

// Retained lists one page of the retained messages matching filter ("" is
// every topic).
func (c *Client) Retained(ctx context.Context, filter string, limit int, cursor string) (RetainedList, error) {
	v := url.Values{}
	set(v, "filter", filter)
	set(v, "cursor", cursor)
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out RetainedList
	return out, c.do(ctx, http.MethodGet, "/retained", v, nil, &out)
}

// DeleteRetained clears the retained message of topic (a tombstone).
func (c *Client) DeleteRetained(ctx context.Context, topic string) (RetainedDeleted, error) {
	var out RetainedDeleted
	return out, c.do(ctx, http.MethodDelete, "/retained", url.Values{"topic": {topic}}, nil, &out)
}

// Nodes lists the frontend nodes.
func (c *Client) Nodes(ctx context.Context) (NodeList, error) {
	var out NodeList
	return out, c.do(ctx, http.MethodGet, "/nodes", nil, nil, &out)
}

func set(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}
