package rdd

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// inputFile is an open input: what sources read through.
type inputFile interface {
	io.ReadSeekCloser
	io.ReaderAt
	Stat() (fs.FileInfo, error)
}

// fileSystem is how sources reach their files: the seam where storage
// other than the local file system (object stores) plugs in. Every
// process that plans or reads an input goes through it.
type fileSystem interface {
	Open(path string) (inputFile, error)
	Stat(path string) (fs.FileInfo, error)
	// Glob returns the names that pattern matches, as filepath.Glob.
	Glob(pattern string) ([]string, error)
	// WalkDir walks the tree under root, as filepath.WalkDir.
	WalkDir(root string, fn fs.WalkDirFunc) error
}

// filesFor returns the file system that path lives on.
func filesFor(path string) fileSystem { return localFS{} }

// localFS is the local (or a shared, mounted) file system.
type localFS struct{}

func (localFS) Open(path string) (inputFile, error) { return os.Open(path) }

func (localFS) Stat(path string) (fs.FileInfo, error) { return os.Stat(path) }

func (localFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

func (localFS) WalkDir(root string, fn fs.WalkDirFunc) error { return filepath.WalkDir(root, fn) }
