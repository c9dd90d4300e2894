package codec_test

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/internal/codec"
)

func Example() {
	type visit struct {
		Page  string
		Count int64
	}
	// Pick the codecs once per type; a Pair's key and value are two frames.
	keys, vals := codec.For[string](), codec.For[visit]()

	key := keys.Append(nil, "/index.html")
	val := vals.Append(nil, visit{Page: "/index.html", Count: 3})

	k, err := keys.Decode(key)
	if err != nil {
		panic(err)
	}
	v, err := vals.Decode(val)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q %+v partition=%d\n", k, v, codec.Hash(key)%8)
	// Output: "/index.html" {Page:/index.html Count:3} partition=0
}

func ExampleFor_errors() {
	c := codec.For[int64]()
	_, err := c.Decode(codec.For[string]().Append(nil, "not a number"))
	fmt.Println(err)
	// Output: codec: cannot decode: int64: input holds a msgpack string (code 0xac)
}

func ExampleAppendOrdered() {
	appendKey, decodeKey := codec.OrderedFor[float64]()
	var encoded [][]byte
	for _, k := range []float64{2.5, -1, 0, -300} {
		encoded = append(encoded, appendKey(nil, k))
	}
	slices.SortFunc(encoded, bytes.Compare) // byte order is numeric order
	for _, e := range encoded {
		k, _ := decodeKey(e)
		fmt.Print(k, " ")
	}
	fmt.Println()
	// Output: -300 -1 0 2.5
}
