package house

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// root is the module's directory.
const root = "../.."

// sources parses every non-test Go file of the module (testdata and
// hidden directories left out) and calls fn with its path relative to
// the module.
func sources(t *testing.T, fn func(rel string, fs *token.FileSet, f *ast.File)) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		fs := token.NewFileSet()
		f, err := parser.ParseFile(fs, p, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fn(filepath.ToSlash(rel), fs, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoLongFunctions: no non-test function is longer than 100 lines.
func TestNoLongFunctions(t *testing.T) {
	const limit = 100
	sources(t, func(rel string, fs *token.FileSet, f *ast.File) {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := fs.Position(fd.End()).Line - fs.Position(fd.Pos()).Line + 1; n > limit {
				t.Errorf("%s:%d: %s is %d lines (limit %d)", rel, fs.Position(fd.Pos()).Line, fd.Name.Name, n, limit)
			}
		}
	})
}

// TestConsoleFilesShort: no console file is over 500 lines.
func TestConsoleFilesShort(t *testing.T) {
	sources(t, func(rel string, fs *token.FileSet, f *ast.File) {
		if !strings.HasPrefix(rel, "tui/") {
			return
		}
		if n := fs.Position(f.End()).Line; n > 500 {
			t.Errorf("%s is %d lines (limit 500)", rel, n)
		}
	})
}

// TestCmdWiresOnly: cmd/routeops imports neither the embedded store nor
// the simulator (the demo package wires them).
func TestCmdWiresOnly(t *testing.T) {
	sources(t, func(rel string, fs *token.FileSet, f *ast.File) {
		if !strings.HasPrefix(rel, "cmd/") {
			return
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if strings.HasSuffix(p, "/router/memstore") || strings.HasSuffix(p, "/router/sim") {
				t.Errorf("%s imports %s", rel, p)
			}
		}
	})
}

// sqlText matches the statements routeops sends.
var sqlText = regexp.MustCompile(`(?i)\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|FUNCTION)|pg_notify|FOR\s+UPDATE)\b`)

// TestSQLOnlyInPgstore: no string literal outside router/pgstore holds a
// SQL statement.
func TestSQLOnlyInPgstore(t *testing.T) {
	sources(t, func(rel string, fs *token.FileSet, f *ast.File) {
		if strings.HasPrefix(rel, "router/pgstore/") {
			return
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if ok && lit.Kind == token.STRING && sqlText.MatchString(lit.Value) {
				t.Errorf("%s:%d: SQL outside router/pgstore: %.80s", rel, fs.Position(lit.Pos()).Line, lit.Value)
			}
			return true
		})
	})
}
