package frontend

import (
	"context"
	"flag"
	"testing"
	"time"
)

// TestBucket: a full bucket gives one second's worth at once, then one
// token per 1/rate, and promises tokens to callers that wait, so waiting
// callers are held to the rate exactly.
func TestBucket(t *testing.T) {
	b := newBucket(10)
	now := b.last
	for i := 0; i < 10; i++ {
		if d := b.take(now); d != 0 {
			t.Fatalf("take %d of the burst: wait %v, want 0", i, d)
		}
	}
	if d := b.take(now); d != 100*time.Millisecond {
		t.Fatalf("first beyond the burst: wait %v, want 100ms", d)
	}
	if d := b.take(now); d != 200*time.Millisecond {
		t.Fatalf("second beyond the burst: wait %v, want 200ms", d)
	}
	// Ten seconds later the refill is capped at the burst.
	now = now.Add(10 * time.Second)
	for i := 0; i < 10; i++ {
		if d := b.take(now); d != 0 {
			t.Fatalf("after refill, take %d: wait %v", i, d)
		}
	}
	if d := b.take(now); d == 0 {
		t.Fatal("the refill went beyond the burst")
	}
}

// TestLimitDefaults: zero takes the default, negative turns a limit off.
func TestLimitDefaults(t *testing.T) {
	l := Limits{PublishRate: -1, MaxTopicLevels: 3}
	l.applyDefaults()
	if l.MaxConnections != DefaultMaxConnections || l.ConnectRate != DefaultConnectRate || l.MaxTopicLevels != 3 {
		t.Fatalf("defaults not applied: %+v", l)
	}
	lim := newLimiter(l)
	if lim.newPublishBucket() != nil {
		t.Fatal("a negative publish rate still limits")
	}
	if err := lim.checkTopic("a/b/c"); err != nil {
		t.Fatalf("3 levels refused: %v", err)
	}
	if err := lim.checkTopic("a/b/c/d"); err == nil {
		t.Fatal("4 levels accepted with a limit of 3")
	}
	off := newLimiter(Limits{MaxConnections: -1, MaxTopicLength: -1, MaxTopicLevels: -1, MaxClientIDLength: -1, ConnectRate: -1})
	for i := 0; i < 10; i++ {
		if !off.acquireConn() || !off.connectAllowed() {
			t.Fatal("a limit turned off refused")
		}
	}
}

// TestLimitFlags: the flags fill Limits, defaults included.
func TestLimitFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	l := LimitFlags(fs)
	if err := fs.Parse([]string{"--publish-rate", "-1", "--max-subscriptions", "7"}); err != nil {
		t.Fatal(err)
	}
	if l.PublishRate != -1 || l.MaxSubscriptions != 7 || l.MaxConnections != DefaultMaxConnections {
		t.Fatalf("got %+v", *l)
	}
}

// TestNewAuthorizer: anonymous with nothing else is AllowAll; files and
// certificate identities give FileAuth; a bad identity is an error.
func TestNewAuthorizer(t *testing.T) {
	ctx := context.Background()
	if a, err := NewAuthorizer(ctx, nil, AuthOptions{AllowAnonymous: true}); err != nil || a != (AllowAll{}) {
		t.Fatalf("anonymous only: %T %v, want AllowAll", a, err)
	}
	a, err := NewAuthorizer(ctx, nil, AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Connect(ctx, ConnectInfo{ClientInfo: ClientInfo{ClientID: "x"}}); err == nil {
		t.Fatal("nothing configured let an anonymous client in")
	}
	if _, err := a.Connect(ctx, ConnectInfo{ClientInfo: ClientInfo{ClientID: "x", Username: "u"}, Password: []byte("p"), HasPassword: true}); err == nil {
		t.Fatal("nothing configured let a user in")
	}
	if _, err := NewAuthorizer(ctx, nil, AuthOptions{CertIdentity: "email"}); err == nil {
		t.Fatal("unknown cert identity accepted")
	}
	// The binaries' default: anonymous access off.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o := AuthFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if o.AllowAnonymous || o.CertIdentity != "none" {
		t.Fatalf("default auth flags %+v, want anonymous off", *o)
	}
}
