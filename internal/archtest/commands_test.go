package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// writes are the registry.Tx methods that change the store.
var writes = []string{"Create", "Update", "Append", "Put", "Touch", "Claim", "NextSeq"}

// The HTTP layer decodes, authorises, calls one command and encodes: every
// write transaction is a command's (registry.Writer), in the package that
// owns the aggregate, so what it changed reaches the one after-commit
// hook. So internal/api opens no write transaction and writes nothing in a
// read one.
func TestHandlersCallCommands(t *testing.T) {
	files, err := filepath.Glob("../api/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in internal/api (%v)", err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch method(call) {
			case "InTx":
				t.Errorf("%s: internal/api opens a write transaction; call a command instead", fset.Position(call.Pos()))
			case "View":
				for _, arg := range call.Args {
					if fn, ok := arg.(*ast.FuncLit); ok {
						checkReadOnly(t, fset, fn)
					}
				}
			}
			return true
		})
	}
}

func checkReadOnly(t *testing.T, fset *token.FileSet, fn *ast.FuncLit) {
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			for _, w := range writes {
				if m := method(call); strings.HasPrefix(m, w) {
					t.Errorf("%s: %s in a read transaction of internal/api; call a command instead", fset.Position(call.Pos()), m)
				}
			}
		}
		return true
	})
}

// method is the name of the method a call calls, or "".
func method(call *ast.CallExpr) string {
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
		return sel.Sel.Name
	}
	return ""
}
