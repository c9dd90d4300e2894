package main

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/objstore"
)

// objectCheckTimeout bounds the checks and reads of an s3:// output.
const objectCheckTimeout = 10 * time.Minute

// committed reports whether dir holds a committed job's output; for an
// s3:// output, also that it is exactly one (its manifest matches its
// parts and no uncompleted upload is left), and if not, why.
func committed(dir string) (bool, string) {
	if !objstore.IsURL(dir) {
		return commit.Committed(dir), ""
	}
	st, err := objstore.Default()
	if err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), objectCheckTimeout)
	defer cancel()
	if _, err := commit.CheckObjects(ctx, st, dir, -1); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// eachOutputLine calls fn with each line of dir's part files, local or in
// object storage; a missing output has none.
func eachOutputLine(dir string, fn func(line []byte) error) error {
	if !objstore.IsURL(dir) {
		parts, err := commit.Parts(dir)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if err := eachLine(p, -1, fn); err != nil {
				return err
			}
		}
		return nil
	}
	st, err := objstore.Default()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), objectCheckTimeout)
	defer cancel()
	infos, err := st.List(ctx, objstore.Dir(dir)+"part-", 0)
	if err != nil {
		return err
	}
	for _, info := range infos {
		r := objstore.OpenRange(ctx, st, info, 0, info.Size)
		err := eachLineOf(r, -1, fn)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
