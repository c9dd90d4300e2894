package commit_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/fuzztest"
	"github.com/sluicehq/sluice/internal/objstore"
)

// FuzzDecodePending: a task result of the object commit comes from an
// executor over the network. Any bytes decode to an error or to an upload
// of the partition's own part file with an id and parts, never a panic.
func FuzzDecodePending(f *testing.F) {
	good, _ := json.Marshal(objstore.Pending{URL: "s3://b/out/part-00003", UploadID: "u1", Parts: []objstore.Part{{Number: 1, ETag: `"e"`, Size: 5}, {Number: 2, ETag: `"f"`, Size: 0}}, Size: 5})
	f.Add(good)
	f.Add([]byte(`{"url":"s3://b/out/part-00004","uploadId":"u","parts":[{"n":1}]}`))
	f.Add([]byte(`{"url":"s3://b/out/../part-00003","uploadId":"u","parts":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzztest.Guard(t)()
		p, err := commit.DecodePending("s3://b/out", 3, data)
		if err != nil {
			return
		}
		if p.URL != "s3://b/out/part-00003" || p.UploadID == "" || len(p.Parts) == 0 || strings.Contains(p.URL, "..") {
			t.Fatalf("accepted %+v", p)
		}
		var size int64
		for i, pt := range p.Parts {
			if int(pt.Number) != i+1 {
				t.Fatalf("accepted part %d numbered %d", i+1, pt.Number)
			}
			size += pt.Size
		}
		if size != p.Size {
			t.Fatalf("accepted parts of %d bytes for an upload of %d", size, p.Size)
		}
	})
}
