package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session/redisconn"
	"github.com/tidemarkmq/tidemark/pkg/startup"
	"github.com/tidemarkmq/tidemark/services/admin"
	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

// repoRoot is the repository, seen from this module.
const repoRoot = ".."

// TestVocabularyDefinedOnce: the words the services share are defined in
// one package each, the reasons of the lifecycle events (and of the ops
// that cause them) in pkg/events, the header names of the messages topic
// in pkg/kafkalog. A string literal spelling one of them in any other
// non-test Go file is a second definition, or a use that bypasses the
// first, and fails here. A word two vocabularies share (the admin API's
// verdict "expired" and the drop reason) is spelled once by each owner.
func TestVocabularyDefinedOnce(t *testing.T) {
	owners := map[string][]string{} // word -> the directories defining it
	own := func(dir string, words ...string) {
		for _, w := range words {
			owners[w] = append(owners[w], dir)
		}
	}
	for r := range events.DisconnectReasons {
		own("pkg/events", string(r))
	}
	for r := range events.TerminateReasons {
		own("pkg/events", string(r))
	}
	for r := range events.DropReasons {
		own("pkg/events", string(r))
	}
	own("pkg/kafkalog", kafkalog.HeaderQoS, kafkalog.HeaderRetain, kafkalog.HeaderClient, kafkalog.HeaderProps,
		kafkalog.HeaderExpires, kafkalog.HeaderTraceparent, kafkalog.HeaderTracestate)
	// The admin API's explain verdict names the drop reason's case, in a
	// package that imports nothing of ours.
	own("pkg/adminapi", adminapi.VerdictExpired)

	const maxFiles = 5000 // far above the repository's; a bound, not a limit
	files := 0
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		if files++; files > maxFiles {
			t.Fatalf("more than %d Go files under %s", maxFiles, repoRoot)
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if dirs, ok := owners[v]; ok && !slices.Contains(dirs, dir) {
				t.Errorf("%s:%d: %q is defined in %s; use its constant", filepath.ToSlash(rel), fset.Position(lit.Pos()).Line, v, strings.Join(dirs, " and "))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no Go files found under %s", repoRoot)
	}
}

// TestLicence: the repository carries the Apache License 2.0, word for
// word, and the README says so.
func TestLicence(t *testing.T) {
	// SHA-256 of the standard text, https://www.apache.org/licenses/LICENSE-2.0.txt.
	const apache20 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
	b, err := os.ReadFile(filepath.Join(repoRoot, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != apache20 {
		t.Errorf("LICENSE is not the Apache License 2.0 text (sha256 %x)", sum)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "## Licence") || !strings.Contains(string(readme), "Apache License, Version 2.0") {
		t.Error("README.md has no Licence section naming the Apache License, Version 2.0")
	}
}

// TestReadmeDocumentsEveryFlag: every flag the services share (the flag
// sets each main and the standalone broker register) appears in the
// README's configuration reference, so a new flag cannot ship
// undocumented.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("services", flag.ContinueOnError)
	startup.CommonFlags(fs, "")
	frontend.RegisterFlags(fs)
	sessiond.RegisterFlags(fs)
	admin.RegisterFlags(fs)
	kafkalog.Flags(fs)
	redisconn.Flags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(string(readme), "`--"+f.Name+"`") {
			t.Errorf("README.md does not document --%s (%s)", f.Name, f.Usage)
		}
	})
	if n < 60 {
		t.Fatalf("only %d flags registered; the flag sets changed shape", n)
	}
}
