package standalone

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
)

// TestStandaloneServesTheAdminAPI starts the standalone broker with the
// admin API and kicks a connected MQTT client through it: the same ops
// and the same session service as the distributed shape.
func TestStandaloneServesTheAdminAPI(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ops admin standalone-admin-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(filepath.Join(dir, "data"))
	cfg.AdminAddr, cfg.AdminTokenFile = "127.0.0.1:0", tokens
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	waitReady(t, s)
	c := connect(t, s.Addrs().MQTT, "kick-me", false)
	defer c.Disconnect(0)
	api := adminapi.NewClient(s.Addrs().Admin.String(), "standalone-admin-0123456789", nil)
	ctx := testCtx(t)
	got, err := api.Session(ctx, "kick-me")
	if err != nil || got.State != adminapi.StateOnline || got.Node != "test" {
		t.Fatalf("session %+v %v", got, err)
	}
	res, err := api.Disconnect(ctx, "kick-me")
	if err != nil || !res.Applied || res.Session == nil || res.Session.State != adminapi.StateOffline {
		t.Fatalf("disconnect %+v %v", res, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatal("client still connected after the kick")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
