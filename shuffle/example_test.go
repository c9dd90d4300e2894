package shuffle_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/shuffle"
)

func Example() {
	dir, err := os.MkdirTemp("", "shuffle-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data, index := filepath.Join(dir, "shuffle_0_7.data"), filepath.Join(dir, "shuffle_0_7.index")

	// A map task writes its output for 3 reduce partitions, in partition order.
	w, err := shuffle.Create(data, index, 3, block.S2)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort()
	for _, r := range []struct {
		part     int
		key, val string
	}{{0, "apple", "3"}, {2, "cherry", "1"}, {2, "plum", "4"}} {
		if err := w.Partition(r.part); err != nil {
			log.Fatal(err)
		}
		w.Frame([]byte(r.key))
		w.Frame([]byte(r.val))
		if err := w.EndRecord(); err != nil {
			log.Fatal(err)
		}
	}
	sizes, err := w.Commit()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("partition 1 is empty:", sizes[1] == 0)

	// The reduce task for partition 2 reads its blocks.
	r, err := shuffle.OpenPartition(data, index, 2)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			log.Fatal(err)
		}
		for len(p) > 0 {
			var key, val []byte
			if key, p, err = block.NextFrame(p); err != nil {
				log.Fatal(err)
			}
			if val, p, err = block.NextFrame(p); err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s=%s\n", key, val)
		}
	}
	// Output:
	// partition 1 is empty: true
	// cherry=1
	// plum=4
}
