// Package objstore is Sluice's seam to object storage: the few operations
// that inputs (TextFile), outputs (SaveAsTextFile's rename-free commit) and
// the event log need, behind one small interface, with an S3
// implementation (aws-sdk-go-v2) and a local-directory one for tests and
// single-machine use.
//
// A location is a URL, s3://bucket/key. A key ending in "/" names a
// "directory": every object whose key begins with it. S3 has no rename and
// no append, so writers use whole-object PUTs for small files and
// multipart uploads, left uncompleted until a committer completes them,
// for part files.
//
// Every call is bounded: a deadline per request, a capped number of
// retries, a read timeout on response bodies, and caps on listings.
//
//	st, err := objstore.Default()
//	infos, err := st.List(ctx, "s3://logs/2026/", 0)
//	r, err := objstore.OpenRange(ctx, st, infos[0], 0, infos[0].Size)
package objstore
