package rdd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/textfmt"

	"github.com/sluicehq/sluice/internal/task"
)

// ErrEmpty is returned by Reduce on an RDD with no elements.
var ErrEmpty = errors.New("rdd: empty RDD")

func (r *RDD[T]) runResult(ctx context.Context, tc *task.Context, part int, a task.Action) ([]byte, error) {
	switch a.Kind {
	case task.ActCollect:
		var buf []byte
		err := r.iterate(ctx, tc, part, func(t T) bool { buf = r.codec.put(buf, t); return true })
		return buf, err
	case task.ActCount:
		var n uint64
		err := r.iterate(ctx, tc, part, func(T) bool { n++; return true })
		return binary.AppendUvarint(nil, n), err
	case task.ActTake:
		var buf []byte
		n := 0
		if a.N <= 0 {
			return nil, nil
		}
		err := r.iterate(ctx, tc, part, func(t T) bool {
			buf = r.codec.put(buf, t)
			n++
			return n < a.N
		})
		return buf, err
	case task.ActSample:
		// Reservoir sampling, seeded by the action and the partition so that
		// every attempt draws the same sample.
		rng := rand.New(rand.NewPCG(uint64(a.Seed), uint64(part)))
		var res []T
		seen := 0
		err := r.iterate(ctx, tc, part, func(t T) bool {
			seen++
			if len(res) < a.N {
				res = append(res, t)
			} else if j := rng.IntN(seen); j < a.N {
				res[j] = t
			}
			return true
		})
		var buf []byte
		for _, t := range res {
			buf = r.codec.put(buf, t)
		}
		return buf, err
	case task.ActCountByKey:
		if r.codec.key == nil {
			return nil, fmt.Errorf("rdd: CountByKey on %s, whose elements are not pairs", r.n.name)
		}
		return r.countEncoded(ctx, tc, part, r.codec.key)
	case task.ActSave:
		if objstore.IsURL(a.Path) {
			return r.saveObjectPartition(ctx, tc, part, a)
		}
		return nil, r.savePartition(ctx, tc, part, a)
	case task.ActFunc:
		return runFunc(ctx, tc, r, part, a)
	}
	return nil, fmt.Errorf("rdd: unknown action %d", a.Kind)
}

// textAppender is implemented by Pair, which formats as key<TAB>value.
type textAppender interface{ appendText([]byte) []byte }

func (p Pair[K, V]) appendText(dst []byte) []byte {
	dst = appendText(dst, p.Key)
	dst = append(dst, '\t')
	return appendText(dst, p.Value)
}

// appendText formats v for a text file: a Pair as key<TAB>value, the rest
// as internal/textfmt does. Strings and the common numbers are switched on
// through a pointer, which does not copy v to the heap as any(v) does: a
// string in an interface costs an allocation, and a text line of a Pair
// of strings would cost one per field.
func appendText[T any](dst []byte, v T) []byte {
	switch x := any(&v).(type) {
	case *string:
		return append(dst, *x...)
	case *[]byte:
		return append(dst, *x...)
	case *int:
		return strconv.AppendInt(dst, int64(*x), 10)
	case *int64:
		return strconv.AppendInt(dst, *x, 10)
	case *int32:
		return strconv.AppendInt(dst, int64(*x), 10)
	case *uint64:
		return strconv.AppendUint(dst, *x, 10)
	}
	if x, ok := any(v).(textAppender); ok {
		return x.appendText(dst)
	}
	return textfmt.Append(dst, v)
}

// countEncoded counts the elements of partition part by their encoding
// under enc: (encoding, count) frames in order of first appearance, the
// result of CountByKey's and CountByValue's tasks.
func (r *RDD[T]) countEncoded(ctx context.Context, tc *task.Context, part int, enc func([]byte, T) []byte) ([]byte, error) {
	// The counts go to the driver whole, so the table is not bounded
	// here; the driver's result size is.
	tb := newCombTable[uint64](0, math.MaxInt64)
	var kb []byte
	err := r.iterate(ctx, tc, part, func(t T) bool {
		kb = enc(kb[:0], t)
		k := unsafe.String(unsafe.SliceData(kb), len(kb))
		i, _ := tb.lookup(k)
		if i < 0 {
			tb.grow()
			i, _ = tb.lookup(k)
		}
		tb.slots[i].v++
		return true
	})
	var buf []byte
	var kbuf [16]byte
	for _, i := range tb.ranked(nil) {
		buf = appendFrame(buf, tb.key(&kbuf, int(i)))
		buf = appendFrame(buf, binary.AppendUvarint(nil, tb.slots[i].v))
	}
	return buf, err
}

// runJob prepares what the job needs (range partitioners' samples) and
// runs it.
func runJob(ctx context.Context, run Runner, g *graph, n *node, a task.Action, result func(int, []byte) error, parts ...int) error {
	return runSpan(ctx, run, g, n, a, result, 1, parts...)
}

// runSpan is runJob whose task for partition p reads partitions p …
// p+span-1 of n (task.Job.Span): the tree actions' jobs.
func runSpan(ctx context.Context, run Runner, g *graph, n *node, a task.Action, result func(int, []byte) error, span int, parts ...int) error {
	if err := g.prepare(ctx, run, n); err != nil {
		return err
	}
	if parts == nil {
		parts = make([]int, n.parts)
		for i := range parts {
			parts[i] = i
		}
	}
	return run.RunJob(ctx, &task.Job{Name: jobName(callers()), Graph: g.pub, Node: n.id, Partitions: parts, Action: a, Result: result, Span: span})
}

// Collect returns every element of r, partition after partition.
func Collect[T any](ctx context.Context, run Runner, r *RDD[T]) ([]T, error) {
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	parts := make([][]T, r.n.parts)
	err = runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCollect}, func(p int, data []byte) error {
		return r.codec.each(data, func(t T) bool { parts[p] = append(parts[p], t); return true })
	})
	if err != nil {
		return nil, err
	}
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// Count returns the number of elements of r.
func Count[T any](ctx context.Context, run Runner, r *RDD[T]) (int64, error) {
	g, err := r.graph()
	if err != nil {
		return 0, err
	}
	var total int64
	err = runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCount}, func(p int, data []byte) error {
		n, err := decodeCount(data)
		if err != nil {
			return fmt.Errorf("rdd: Count: partition %d: %w", p, err)
		}
		total += n
		return nil
	})
	return total, err
}

// decodeCount decodes a count task's result: exactly one uvarint, as
// runResult writes it, within int64.
func decodeCount(data []byte) (int64, error) {
	n, k := binary.Uvarint(data)
	switch {
	case k <= 0:
		return 0, fmt.Errorf("malformed count (%d bytes)", len(data))
	case k != len(data):
		return 0, fmt.Errorf("%d bytes after the count", len(data)-k)
	case n > math.MaxInt64:
		return 0, fmt.Errorf("count %d out of range", n)
	}
	return int64(n), nil
}

// takeScaleUp bounds how fast Take widens its scan: each job computes at
// most this many times as many partitions as all earlier jobs together.
// It is the default of Spark's spark.rdd.limit.scaleUpFactor.
const takeScaleUp = 4

// Take returns the first n elements of r, or none when n <= 0. It computes
// as few partitions as it can, as Spark's RDD.take does: partition 0
// first; then, while it has fewer than n elements, the next partitions in
// one job, as many as it has scanned times takeScaleUp if it has found
// nothing yet, else enough for the elements still missing at the rate
// found so far plus 50%, capped at the same scaleUp multiple.
func Take[T any](ctx context.Context, run Runner, r *RDD[T], n int) ([]T, error) {
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	var out []T
	scanned := 0
	for len(out) < n && scanned < r.n.parts {
		try := 1
		if scanned > 0 {
			limit := scanned * takeScaleUp
			if len(out) == 0 {
				try = limit
			} else {
				left := n - len(out)
				est := math.Ceil(1.5 * float64(left) * float64(scanned) / float64(len(out)))
				try = int(min(est, float64(limit))) // at least 1, as left > 0
			}
		}
		var parts []int
		for i := scanned; i < min(scanned+try, r.n.parts); i++ {
			parts = append(parts, i)
		}
		got := make([][]T, len(parts))
		err := runJob(ctx, run, g, r.n, task.Action{Kind: task.ActTake, N: n - len(out)}, func(p int, data []byte) error {
			return r.codec.each(data, func(t T) bool { got[p-scanned] = append(got[p-scanned], t); return true })
		}, parts...)
		if err != nil {
			return nil, err
		}
		for _, g := range got {
			out = append(out, g[:min(len(g), n-len(out))]...)
		}
		scanned += len(parts)
	}
	return out, nil
}

// ForEach calls f on every element of r, in the driver, one partition at a
// time as partitions finish: every element travels to the driver. To run
// a function on the executors, use ForEachPartition.
func ForEach[T any](ctx context.Context, run Runner, r *RDD[T], f func(T)) error {
	g, err := r.graph()
	if err != nil {
		return err
	}
	return runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCollect}, func(_ int, data []byte) error {
		return r.codec.each(data, func(t T) bool { f(t); return true })
	})
}

// CountByKey returns the number of elements of r for each key. Keys are
// counted by their encoding, as by-key operations group them: -0 and +0
// are one key; the NaNs of one partition are one key, but the returned Go
// map cannot merge NaN keys, so each partition's NaN count is an entry of
// its own.
func CountByKey[K comparable, V any](ctx context.Context, run Runner, r *RDD[Pair[K, V]]) (map[K]int64, error) {
	if err := codec.CheckKey(reflect.TypeFor[K]()); err != nil {
		return nil, fmt.Errorf("rdd: CountByKey at %s: %w", callSite(1), roled(err, "key"))
	}
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	kc := codec.For[K]()
	out := map[K]int64{}
	err = runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCountByKey}, func(p int, data []byte) error {
		if err := decodeCountsByKey(kc, data, out); err != nil {
			return fmt.Errorf("rdd: CountByKey: partition %d: %w", p, err)
		}
		return nil
	})
	return out, err
}

// decodeCountsByKey adds the (key, count) frames of a CountByKey task's
// result to out.
func decodeCountsByKey[K comparable](kc codec.Codec[K], data []byte, out map[K]int64) error {
	for len(data) > 0 {
		kf, rest, err := block.NextFrame(data)
		if err != nil {
			return err
		}
		cf, rest, err := block.NextFrame(rest)
		if err != nil {
			return err
		}
		k, err := kc.Decode(kf)
		if err != nil {
			return err
		}
		n, err := decodeCount(cf)
		if err != nil {
			return err
		}
		out[k] += n
		data = rest
	}
	return nil
}

// SaveAsTextFile writes r as text into the directory dir: one file
// part-NNNNN per partition, one line per element (a Pair as key<TAB>value),
// then an empty _SUCCESS file. dir must not exist or be empty. Task attempts
// write under dir/_temporary and exactly one attempt per partition commits;
// on failure dir is left as it was (removed if SaveAsTextFile created it).
// dir may be an s3://bucket/prefix: then nothing is renamed; each attempt
// uploads its part as a multipart upload left uncompleted, the job commit
// completes exactly the authorised attempts' uploads, aborts all others
// and writes _SUCCESS last as a JSON manifest of the parts.
// With --output-codec (or WithCodec) the part files are compressed and
// named for it: part-00000.gz.
func SaveAsTextFile[T any](ctx context.Context, run Runner, r *RDD[T], dir string, opts ...SaveOption) error {
	return save(ctx, run, r, dir, "SaveAsTextFile", formatText, opts)
}

// First returns the first element of r, computing as few partitions as
// Take does. It returns ErrEmpty when r has no elements.
func First[T any](ctx context.Context, run Runner, r *RDD[T]) (T, error) {
	out, err := Take(ctx, run, r, 1)
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("rdd: First: %w", ErrEmpty)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return out[0], nil
}

// IsEmpty reports whether r has no elements, computing as few partitions
// as Take does.
func IsEmpty[T any](ctx context.Context, run Runner, r *RDD[T]) (bool, error) {
	out, err := Take(ctx, run, r, 1)
	return len(out) == 0, err
}
