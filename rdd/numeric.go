package rdd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// Number is the element type of the numeric actions: Sum, Mean, Stats,
// Histogram.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// sumRunner is the task of Sum.
type sumRunner[T Number] struct{}

func (sumRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, _ []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	var s T
	if err := r.iterate(ctx, tc, part, func(t T) bool { s += t; return true }); err != nil {
		return nil, err
	}
	return codec.For[T]().Append(nil, s), nil
}

// Sum returns the sum of the elements of r, 0 when it has none: each
// partition summed on the executors, their sums added in partition order.
// Integers wrap on overflow, as Go's + does; floats are added in that
// order (and so equal a sum in one loop only up to rounding).
func Sum[T Number](ctx context.Context, run Runner, r *RDD[T]) (T, error) {
	var total T
	g, err := r.graph()
	if err != nil {
		return total, err
	}
	a, err := funcAction(run, sumRunner[T]{}, nil)
	if err != nil {
		return total, err
	}
	c := codec.For[T]()
	sums := make([]T, r.n.parts)
	err = runJob(ctx, run, g, r.n, a, func(p int, data []byte) error {
		s, err := c.Decode(data)
		if err != nil {
			return fmt.Errorf("rdd: Sum: partition %d: %w", p, err)
		}
		sums[p] = s
		return nil
	})
	for _, s := range sums {
		total += s
	}
	return total, err
}

// StatCounter holds the count, mean, variance, smallest and largest of
// numbers, as Spark's StatCounter does, in float64: Stats returns one.
type StatCounter struct {
	Count int64
	Mean  float64 // NaN when Count is 0
	Min   float64 // +Inf when Count is 0; NaN when a NaN was counted
	Max   float64 // -Inf when Count is 0; NaN when a NaN was counted
	m2    float64 // the sum of squared differences from the mean
}

func newStatCounter() StatCounter {
	return StatCounter{Mean: math.NaN(), Min: math.Inf(1), Max: math.Inf(-1)}
}

// add counts x (Welford's update, as Spark's StatCounter.merge(Double)).
func (s *StatCounter) add(x float64) {
	if s.Count == 0 {
		s.Mean = 0
	}
	s.Count++
	d := x - s.Mean
	s.Mean += d / float64(s.Count)
	s.m2 += d * (x - s.Mean)
	s.Min = nanMin(s.Min, x)
	s.Max = nanMax(s.Max, x)
}

// merge adds o's numbers to s (Chan et al.'s combination, as Spark's
// StatCounter.merge(StatCounter), including its choice of formula for the
// mean when one side is much larger).
func (s *StatCounter) merge(o StatCounter) {
	switch {
	case o.Count == 0:
		return
	case s.Count == 0:
		*s = o
		return
	}
	n, m := float64(s.Count), float64(o.Count)
	d := o.Mean - s.Mean
	switch {
	case m*10 < n:
		s.Mean += d * m / (n + m)
	case n*10 < m:
		s.Mean = o.Mean - d*n/(n+m)
	default:
		s.Mean = (s.Mean*n + o.Mean*m) / (n + m)
	}
	s.m2 += o.m2 + d*d*n*m/(n+m)
	s.Count += o.Count
	s.Min = nanMin(s.Min, o.Min)
	s.Max = nanMax(s.Max, o.Max)
}

// nanMin and nanMax are math.Min and math.Max, which already return NaN
// when either argument is NaN, as Scala's math.min does.
func nanMin(a, b float64) float64 { return math.Min(a, b) }
func nanMax(a, b float64) float64 { return math.Max(a, b) }

// Sum returns Count × Mean, 0 when Count is 0, as Spark's does.
func (s StatCounter) Sum() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Count) * s.Mean
}

// Variance returns the population variance, NaN when Count is 0.
func (s StatCounter) Variance() float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	return s.m2 / float64(s.Count)
}

// SampleVariance returns the sample variance (divided by Count-1), NaN
// when Count is below 2.
func (s StatCounter) SampleVariance() float64 {
	if s.Count <= 1 {
		return math.NaN()
	}
	return s.m2 / float64(s.Count-1)
}

// Stdev returns the population standard deviation.
func (s StatCounter) Stdev() float64 { return math.Sqrt(s.Variance()) }

// SampleStdev returns the sample standard deviation.
func (s StatCounter) SampleStdev() float64 { return math.Sqrt(s.SampleVariance()) }

// String formats s as Spark does: count, mean, stdev, max, min.
func (s StatCounter) String() string {
	return fmt.Sprintf("(count: %d, mean: %g, stdev: %g, max: %g, min: %g)", s.Count, s.Mean, s.Stdev(), s.Max, s.Min)
}

// encode appends s as 8-byte words: count, mean, min, max, m2.
func (s StatCounter) encode(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.Count))
	for _, f := range []float64{s.Mean, s.Min, s.Max, s.m2} {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	}
	return dst
}

func decodeStatCounter(b []byte) (StatCounter, error) {
	if len(b) != 40 {
		return StatCounter{}, fmt.Errorf("malformed statistics (%d bytes)", len(b))
	}
	w := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
	s := StatCounter{Count: int64(w(0)), Mean: math.Float64frombits(w(1)), Min: math.Float64frombits(w(2)), Max: math.Float64frombits(w(3)), m2: math.Float64frombits(w(4))}
	if s.Count < 0 {
		return StatCounter{}, fmt.Errorf("negative count %d", s.Count)
	}
	return s, nil
}

// statsRunner is the task of Stats.
type statsRunner[T Number] struct{}

func (statsRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, _ []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	s := newStatCounter()
	if err := r.iterate(ctx, tc, part, func(t T) bool { s.add(float64(t)); return true }); err != nil {
		return nil, err
	}
	return s.encode(nil), nil
}

// Stats returns the count, mean, variance, smallest and largest element
// of r, as float64, as Spark's stats does: each partition's computed on
// the executors, merged in the driver in partition order.
func Stats[T Number](ctx context.Context, run Runner, r *RDD[T]) (StatCounter, error) {
	total := newStatCounter()
	g, err := r.graph()
	if err != nil {
		return total, err
	}
	a, err := funcAction(run, statsRunner[T]{}, nil)
	if err != nil {
		return total, err
	}
	parts := make([]StatCounter, r.n.parts)
	err = runJob(ctx, run, g, r.n, a, func(p int, data []byte) error {
		s, err := decodeStatCounter(data)
		if err != nil {
			return fmt.Errorf("rdd: Stats: partition %d: %w", p, err)
		}
		parts[p] = s
		return nil
	})
	if err != nil {
		return total, err
	}
	for _, s := range parts {
		total.merge(s)
	}
	return total, nil
}

// Mean returns the mean of the elements of r, as float64, computed as
// Stats does. It returns ErrEmpty when r has no elements.
func Mean[T Number](ctx context.Context, run Runner, r *RDD[T]) (float64, error) {
	s, err := Stats(ctx, run, r)
	if err == nil && s.Count == 0 {
		err = fmt.Errorf("rdd: Mean: %w", ErrEmpty)
	}
	return s.Mean, err
}

// maxBuckets bounds a histogram: each task holds a count per bucket.
const maxBuckets = 1 << 20

// ErrHistogram is wrapped by Histogram's and HistogramEven's errors about
// their input: bad buckets, or nothing to make even buckets of.
var ErrHistogram = errors.New("rdd: histogram")

// bucketOf returns the bucket of x among the sorted bounds b: i when
// b[i] <= x < b[i+1], the last bucket also holding its upper bound; -1
// when x is NaN or outside [b[0], b[len(b)-1]].
func bucketOf(b []float64, x float64) int {
	last := len(b) - 1
	switch {
	case math.IsNaN(x) || x < b[0] || x > b[last]:
		return -1
	case x == b[last]:
		return last - 1
	}
	// the first bound above x; x >= b[0], so i >= 1
	i := sort.Search(len(b), func(i int) bool { return b[i] > x })
	return i - 1
}

// histRunner is the task of Histogram: a count per bucket, uvarints.
type histRunner[T Number] struct{}

func (histRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, arg []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	if len(arg)%8 != 0 || len(arg) < 16 || len(arg) > 8*(maxBuckets+1) {
		return nil, Permanent(fmt.Errorf("rdd: malformed histogram buckets (%d bytes)", len(arg)))
	}
	b := make([]float64, len(arg)/8)
	for i := range b {
		b[i] = math.Float64frombits(binary.LittleEndian.Uint64(arg[8*i:]))
	}
	counts := make([]uint64, len(b)-1)
	err = r.iterate(ctx, tc, part, func(t T) bool {
		if i := bucketOf(b, float64(t)); i >= 0 {
			counts[i]++
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, c := range counts {
		out = binary.AppendUvarint(out, c)
	}
	return out, nil
}

// Histogram counts the elements of r in the buckets that the sorted bounds
// buckets make, as Spark's histogram(buckets) does: bucket i holds
// buckets[i] <= x < buckets[i+1], and the last also its upper bound, so
// [1, 10, 20, 50] makes [1, 10), [10, 20) and [20, 50]. Elements outside
// and NaNs are not counted. buckets must hold 2 to 2^20+1 bounds, in
// increasing order, none NaN. The counting runs on the executors.
func Histogram[T Number](ctx context.Context, run Runner, r *RDD[T], buckets []float64) ([]int64, error) {
	if err := checkBuckets(buckets); err != nil {
		return nil, fmt.Errorf("rdd: Histogram at %s: %w", callSite(1), err)
	}
	return histogram(ctx, run, r, buckets)
}

func checkBuckets(b []float64) error {
	if len(b) < 2 || len(b) > maxBuckets+1 {
		return fmt.Errorf("%w: %d bucket bounds; give 2 to %d", ErrHistogram, len(b), maxBuckets+1)
	}
	for i, x := range b {
		if math.IsNaN(x) {
			return fmt.Errorf("%w: bound %d is NaN", ErrHistogram, i)
		}
		if i > 0 && b[i-1] >= x {
			return fmt.Errorf("%w: bounds must increase, and bound %d (%g) is not above bound %d (%g)", ErrHistogram, i, x, i-1, b[i-1])
		}
	}
	return nil
}

func histogram[T Number](ctx context.Context, run Runner, r *RDD[T], buckets []float64) ([]int64, error) {
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	arg := make([]byte, 0, 8*len(buckets))
	for _, x := range buckets {
		arg = binary.LittleEndian.AppendUint64(arg, math.Float64bits(x))
	}
	a, err := funcAction(run, histRunner[T]{}, arg)
	if err != nil {
		return nil, err
	}
	counts := make([]int64, len(buckets)-1)
	err = runJob(ctx, run, g, r.n, a, func(p int, data []byte) error {
		if err := addCounts(counts, data); err != nil {
			return fmt.Errorf("rdd: Histogram: partition %d: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// HistogramEven counts the elements of r in n buckets spread evenly
// between its smallest and largest element, as Spark's histogram(n) does,
// and returns the n+1 bounds with the counts: bound i is min + i×(max-min)/n
// and the last is max; when every element is equal, the bounds are [x, x]
// with one bucket. It runs two jobs (Stats, then Histogram). An empty r,
// or one holding a NaN or an infinity, is an error wrapping ErrHistogram,
// as in Spark.
func HistogramEven[T Number](ctx context.Context, run Runner, r *RDD[T], n int) ([]float64, []int64, error) {
	site := callSite(1)
	if n < 1 || n > maxBuckets {
		return nil, nil, fmt.Errorf("rdd: HistogramEven at %s: %w: %d buckets; give 1 to %d", site, ErrHistogram, n, maxBuckets)
	}
	s, err := Stats(ctx, run, r)
	if err != nil {
		return nil, nil, err
	}
	lo, hi := s.Min, s.Max
	if s.Count == 0 || math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil, nil, fmt.Errorf("rdd: HistogramEven at %s: %w: the RDD is empty or holds an infinity or NaN", site, ErrHistogram)
	}
	var b []float64
	if lo == hi {
		b = []float64{lo, lo}
	} else {
		span := hi - lo
		for i := range n {
			// min: rounding must not put a bound above max
			b = append(b, min(lo+float64(i)*span/float64(n), hi))
		}
		b = append(b, hi)
	}
	// Bounds are non-decreasing; equal ones (a span of a few ulps) make
	// empty buckets, as in Spark.
	counts, err := histogram(ctx, run, r, b)
	if err != nil {
		return nil, nil, err
	}
	return b, counts, nil
}

// addCounts adds a histogram task's counts, uvarints, one per bucket, to
// counts.
func addCounts(counts []int64, data []byte) error {
	for i := range counts {
		c, n := binary.Uvarint(data)
		if n <= 0 || c > math.MaxInt64 || counts[i] > math.MaxInt64-int64(c) {
			return errors.New("malformed count")
		}
		counts[i] += int64(c)
		data = data[n:]
	}
	if len(data) != 0 {
		return fmt.Errorf("%d bytes after the counts", len(data))
	}
	return nil
}
