package rdd

import (
	"context"
	"fmt"
	"math"
	"math/bits"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// CountApproxDistinct counts the distinct elements of r approximately, with
// a HyperLogLog sketch as Spark's countApproxDistinct does: relativeSD is
// the relative standard deviation wanted (Spark's default is 0.05), which
// sets the sketch's precision p = ⌈2·log2(1.054/relativeSD)⌉, so 2^p
// registers. relativeSD must lie in [0.00206, 0.37] (p from 4 to 18).
//
// Elements are distinct by their canonical encoding, as by-key operations
// group keys (-0 and +0 are one, all NaNs are one), hashed with the fixed
// 64-bit hash that partitions keys, so every process and run gives the
// same count. Each task builds its partition's sketch on the executor and
// sends its 2^p one-byte registers to the driver, which merges them.
//
// The sketch is HyperLogLog++'s dense form (a 64-bit hash, so no
// large-range correction, and the precision rule above); where HLL++
// corrects the raw estimate's bias at small cardinalities with empirical
// tables and linear counting, this uses Ertl's improved estimator ("New
// cardinality estimation algorithms for HyperLogLog sketches", 2017),
// which is unbiased across the whole range without tables.
func CountApproxDistinct[T any](ctx context.Context, run Runner, r *RDD[T], relativeSD float64) (int64, error) {
	p, err := hllPrecision(relativeSD)
	if err != nil {
		return 0, fmt.Errorf("rdd: CountApproxDistinct at %s: %w", callSite(1), err)
	}
	g, err := r.graph()
	if err != nil {
		return 0, err
	}
	a, err := funcAction(run, hllRunner[T]{}, []byte{byte(p)})
	if err != nil {
		return 0, err
	}
	regs := make([]uint8, 1<<p)
	err = runJob(ctx, run, g, r.n, a, func(part int, data []byte) error {
		if err := mergeRegisters(regs, p, data); err != nil {
			return fmt.Errorf("rdd: CountApproxDistinct: partition %d: %w", part, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return hllEstimate(regs, p), nil
}

// mergeRegisters merges a task's sketch of precision p into regs.
func mergeRegisters(regs []uint8, p int, data []byte) error {
	if len(data) != len(regs) {
		return fmt.Errorf("%d registers, not %d", len(data), len(regs))
	}
	for i, v := range data {
		if int(v) > 64-p+1 {
			return fmt.Errorf("register value %d out of range", v)
		}
		regs[i] = max(regs[i], v)
	}
	return nil
}

// hllPrecision returns the precision for relativeSD, as Spark computes it.
func hllPrecision(relativeSD float64) (int, error) {
	if !(relativeSD > 0) || math.IsInf(relativeSD, 0) {
		return 0, fmt.Errorf("relativeSD must be a positive number, not %g", relativeSD)
	}
	p := int(math.Ceil(2 * math.Log2(1.054/relativeSD)))
	switch {
	case p < 4:
		return 0, fmt.Errorf("relativeSD must be at most 0.37, not %g", relativeSD)
	case p > 18:
		return 0, fmt.Errorf("relativeSD must be at least 0.00206 (2^18 registers), not %g", relativeSD)
	}
	return p, nil
}

// hllRunner is the task of CountApproxDistinct: the sketch's registers.
type hllRunner[T any] struct{}

func (hllRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, arg []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	if len(arg) != 1 || arg[0] < 4 || arg[0] > 18 {
		return nil, Permanent(fmt.Errorf("rdd: malformed sketch precision"))
	}
	p := int(arg[0])
	kc, _ := codec.KeyFor[T]()
	regs := make([]uint8, 1<<p)
	var kb []byte
	err = r.iterate(ctx, tc, part, func(t T) bool {
		kb = kc.Append(kb[:0], t)
		hllAdd(regs, p, codec.Hash(kb))
		return true
	})
	return regs, err
}

// hllAdd records hash h: its top p bits pick a register, which keeps the
// largest position of the first 1 bit among the other 64-p bits (64-p+1
// when they are all 0).
func hllAdd(regs []uint8, p int, h uint64) {
	i := h >> (64 - p)
	rho := uint8(min(bits.LeadingZeros64(h<<p), 64-p) + 1)
	regs[i] = max(regs[i], rho)
}

// hllEstimate is Ertl's improved raw estimator (Algorithm 6 of the paper).
func hllEstimate(regs []uint8, p int) int64 {
	q := 64 - p
	m := float64(len(regs))
	c := make([]float64, q+2) // c[k]: registers holding k
	for _, v := range regs {
		c[v]++
	}
	z := m * hllTau(1-c[q+1]/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + c[k])
	}
	z += m * hllSigma(c[0]/m)
	if math.IsInf(z, 1) {
		return 0 // every register empty
	}
	return int64(math.Round(m * m / (2 * math.Ln2) / z))
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}
