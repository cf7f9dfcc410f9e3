package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// envReaders are the calls that read an environment variable by the name
// given as their first argument: the os package's and config.Env's.
var envReaders = map[string]bool{
	"Getenv": true, "LookupEnv": true,
	"String": true, "Int": true, "Duration": true, "Bool": true, "Required": true,
	"Float": true, "List": true, "URL": true, "Secret": true, "Bytes": true,
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// notOurs are variables the platform sets or only tests read.
var notOurs = map[string]bool{
	"KUBERNETES_SERVICE_HOST": true, "KUBERNETES_SERVICE_PORT": true,
	"KUBEBUILDER_ASSETS": true,
}

// TestEveryEnvironmentVariableIsDocumented reads the production code of
// both modules for every environment variable it reads, and checks that
// each is named in the README or under docs/: a setting nobody can find is
// a setting nobody can use.
func TestEveryEnvironmentVariableIsDocumented(t *testing.T) {
	root := filepath.Join("..", "..")
	read := map[string][]string{}
	for _, dir := range []string{"services", "operator"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), "test")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !envReaders[sel.Sel.Name] {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				name, err := strconv.Unquote(lit.Value)
				if err == nil && envName.MatchString(name) && !notOurs[name] {
					read[name] = append(read[name], path)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(read) < 10 {
		t.Fatalf("found only %d environment variables: the scan is broken", len(read))
	}

	var docs strings.Builder
	for _, pattern := range []string{"README.md", "docs/*.md", "docs/*/*.md", "charts/*/README.md"} {
		files, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			docs.Write(b)
		}
	}
	var missing []string
	for name, where := range read {
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(docs.String()) {
			missing = append(missing, name+" (read in "+strings.Join(where, ", ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("undocumented environment variable: %s", m)
	}
}

// TestDocsLinksResolve: every relative link in the README and docs/ names
// a file that exists and, with a #fragment, a heading of that file.
func TestDocsLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	if len(files) < 3 {
		t.Fatalf("found %d documents: the scan is broken", len(files))
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := f
			if path != "" {
				file = filepath.Join(filepath.Dir(f), path)
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("%s: link %s: no such file", f, target)
				continue
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !headingAnchors(t, file)[anchor] {
				t.Errorf("%s: link %s: no such heading", f, target)
			}
		}
	}
}

// headingAnchors are the anchors GitHub gives a Markdown file's headings.
func headingAnchors(t *testing.T, file string) map[string]bool {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	fenced := false
	drop := regexp.MustCompile(`[^\w\- ]`)
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
	}
	return anchors
}
