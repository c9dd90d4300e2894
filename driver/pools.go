package driver

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/scheduler"
)

type poolKey struct{}

// WithPool returns a context whose actions run their jobs in the named
// FAIR pool (--scheduler-mode fair), as Spark's
// setLocalProperty("spark.scheduler.pool", name) does for a thread. Jobs
// run at once from several goroutines share the slots among their pools
// by the pools' weights and minimum shares (--scheduler-pool); jobs in
// one pool run first come, first served. A pool that --scheduler-pool
// does not name has weight 1 and no minimum share. In FIFO mode pools are
// ignored.
//
//	go rdd.Count(driver.WithPool(ctx, "adhoc"), s, small)
//	rdd.SaveAsTextFile(driver.WithPool(ctx, "etl"), s, big, out)
func WithPool(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, poolKey{}, name)
}

// PoolOf returns the pool WithPool set on ctx; "" means
// scheduler.DefaultPool.
func PoolOf(ctx context.Context) string {
	name, _ := ctx.Value(poolKey{}).(string)
	return name
}

// parsePool reads one --scheduler-pool value, NAME:weight=W,minshare=M
// (either setting may be left out: weight 1, minshare 0).
func parsePool(s string) (string, scheduler.Pool, error) {
	p := scheduler.Pool{Weight: 1}
	name, settings, _ := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if name == "" {
		return "", p, fmt.Errorf("--scheduler-pool %q: give NAME:weight=W,minshare=M", s)
	}
	if settings == "" {
		return name, p, nil
	}
	for kv := range strings.SplitSeq(settings, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil {
			return "", p, fmt.Errorf("--scheduler-pool %q: %q is not KEY=NUMBER (weight=W or minshare=M)", s, kv)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "weight":
			if n < 1 {
				return "", p, fmt.Errorf("--scheduler-pool %q: weight must be at least 1, not %d", s, n)
			}
			p.Weight = n
		case "minshare":
			if n < 0 {
				return "", p, fmt.Errorf("--scheduler-pool %q: minshare must not be negative, not %d", s, n)
			}
			p.MinShare = n
		default:
			return "", p, fmt.Errorf("--scheduler-pool %q: unknown setting %q: want weight or minshare", s, k)
		}
	}
	return name, p, nil
}
