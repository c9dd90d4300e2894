package fuzztest

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGuardCrashesOnAHang runs a hanging input under a short guard in a
// child process, which must die naming the target.
func TestGuardCrashesOnAHang(t *testing.T) {
	if os.Getenv("FUZZTEST_HANG") == "1" {
		defer guard("FuzzHang", 10*time.Millisecond)()
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuardCrashesOnAHang$")
	cmd.Env = append(os.Environ(), "FUZZTEST_HANG=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "FuzzHang: an input ran for more than 10ms") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestEveryTargetIsGuarded checks that every fuzz target in the module
// calls Guard: without it, a hang would pass CI's fuzz step unnoticed.
func TestEveryTargetIsGuarded(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	targets := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Fuzz") || !takesF(fn) {
				continue
			}
			targets++
			if !callsGuard(fn.Body) {
				rel, _ := filepath.Rel(root, fset.Position(fn.Pos()).Filename)
				t.Errorf("%s: %s does not call fuzztest.Guard in its fuzz function", rel, fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if targets == 0 {
		t.Fatal("found no fuzz targets: is the module root right?")
	}
	t.Logf("%d fuzz targets", targets)
}

// takesF reports whether fn's one parameter is a *testing.F.
func takesF(fn *ast.FuncDecl) bool {
	ps := fn.Type.Params.List
	if len(ps) != 1 {
		return false
	}
	star, ok := ps[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "F"
}

// callsGuard reports whether body calls fuzztest.Guard (or Guard, inside
// this package).
func callsGuard(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return !found
		}
		switch fun := call.Fun.(type) {
		case *ast.SelectorExpr:
			if x, ok := fun.X.(*ast.Ident); ok && x.Name == "fuzztest" && fun.Sel.Name == "Guard" {
				found = true
			}
		case *ast.Ident:
			found = found || fun.Name == "Guard"
		}
		return !found
	})
	return found
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}
