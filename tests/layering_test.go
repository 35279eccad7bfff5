package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

const modulePath = "github.com/tidemarkmq/tidemark/"

// importRule is one row of the import rules of docs/design.md.
type importRule struct {
	packages, allowed []string
	stdlibOnly        bool
}

// importRules reads the "Import rules" table of docs/design.md: the
// rules are written once, where a reader looks for them, and checked here.
func importRules(t *testing.T) []importRule {
	t.Helper()
	f, err := os.Open("../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ticked := regexp.MustCompile("`([^`]+)`")
	var rules []importRule
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### Import rules"):
			in = true
		case in && strings.HasPrefix(line, "#"):
			in = false
		case in && strings.HasPrefix(line, "| `"):
			cols := strings.Split(line, "|")
			if len(cols) < 4 {
				t.Fatalf("import rules: bad row %q", line)
			}
			var r importRule
			for _, m := range ticked.FindAllStringSubmatch(cols[1], -1) {
				r.packages = append(r.packages, m[1])
			}
			for _, m := range ticked.FindAllStringSubmatch(cols[2], -1) {
				r.allowed = append(r.allowed, m[1])
			}
			r.stdlibOnly = strings.Contains(cols[2], "standard library only")
			rules = append(rules, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) < 10 {
		t.Fatalf("docs/design.md has %d import rules; is the table still under \"### Import rules\"?", len(rules))
	}
	return rules
}

// covers reports whether pattern (a path, or path/... for it and its
// subpackages) covers pkg.
func covers(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

// TestImportRules holds every package of the repository (but the tests
// and the manifest validation, which may use everything) to the import
// rules of docs/design.md: no import the rules do not name, no package
// without a rule.
func TestImportRules(t *testing.T) {
	rules := importRules(t)
	cmd := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", modulePath+"...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], modulePath)
		if covers("tests/...", pkg) || covers("deployments/...", pkg) {
			continue
		}
		var rule *importRule
		for i := range rules {
			for _, p := range rules[i].packages {
				if covers(p, pkg) {
					rule = &rules[i]
				}
			}
		}
		if rule == nil {
			t.Errorf("%s: no import rule in docs/design.md", pkg)
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			own, ours := strings.CutPrefix(imp, modulePath)
			switch {
			case ours:
				if own == pkg {
					continue
				}
				ok := false
				for _, a := range rule.allowed {
					ok = ok || covers(a, own)
				}
				if !ok {
					t.Errorf("%s imports %s, which its rule does not allow", pkg, own)
				}
			case rule.stdlibOnly && strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
				t.Errorf("%s imports %s, but may use the standard library only", pkg, imp)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d packages checked", checked)
	}
}
