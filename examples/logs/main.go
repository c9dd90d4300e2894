// Command logs analyses web-server access logs in JSON lines, as an EMR
// log-analysis job does, with the mapreduce API: requests per hour and
// status code, and the most requested paths.
//
//	logs [--top N] [--skip-bad-records N] --output DIR INPUT...
//
// Each line of INPUT is a JSON object with at least "time" (RFC 3339),
// "status" (a number) and "path". It writes Parquet files (snappy pages;
// rdd.Parquet or any Parquet reader reads them)
//
//	DIR/status-by-hour/part-*  columns hour, status, requests (hour as 2006-01-02T15, UTC), in order
//	DIR/paths/part-*           columns path, requests
//	DIR/top-paths/part-00000   columns path, requests, most requested first (ties by path)
//
// and prints the --top N (default 10) paths as path<TAB>requests lines.
// The third job reads the second's Parquet output. A line that is not such
// an object fails the job, naming its file and line; with the driver's
// --skip-bad-records N each job skips up to N of them, counted in
// --job-summary (bad_records_skipped, to which each job that reads the
// input adds every bad line once: three, the first sampling the keys of
// the status-by-hour report for its total order).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// request is the part of a log record the analysis reads.
type request struct {
	Time   time.Time `json:"time"`
	Status int       `json:"status"`
	Path   string    `json:"path"`
}

// UnmarshalJSON decodes a record and requires the fields the analysis
// reads: a line without them is a bad record, like one that is not JSON
// (rdd.JSONLines names it by file and line, or skips and counts it under
// --skip-bad-records N).
func (r *request) UnmarshalJSON(b []byte) error {
	type plain request
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Time.IsZero() || p.Status == 0 || p.Path == "" {
		return errors.New(`want "time", "status" and "path"`)
	}
	*r = request(p)
	return nil
}

// requests reads the access logs.
func requests(paths []string) *rdd.RDD[request] { return rdd.JSONLines[request](paths...) }

// hourCount is a row of the status-by-hour report.
type hourCount struct {
	Hour     string `parquet:"hour"`
	Status   int64  `parquet:"status"`
	Requests int64  `parquet:"requests"`
}

// pathCount is a row of the paths and top-paths reports.
type pathCount struct {
	Path     string `parquet:"path"`
	Requests int64  `parquet:"requests"`
}

// hourStatus is the key of the first report.
type hourStatus struct {
	Hour   string
	Status int64
}

var byHour = mapreduce.Register(mapreduce.Job[request, hourStatus, int64, hourCount]{
	Name:  "StatusByHour",
	Input: requests,
	Mapper: mapreduce.MapperFunc[request, hourStatus, int64](func(_ context.Context, r request, emit func(hourStatus, int64)) error {
		emit(hourStatus{r.Time.UTC().Format("2006-01-02T15"), int64(r.Status)}, 1)
		return nil
	}),
	SortKey: mapreduce.KeyOrder[hourStatus]{
		Append: func(dst []byte, k hourStatus) []byte {
			return mapreduce.AppendInt64(mapreduce.AppendString(dst, k.Hour), k.Status)
		},
		Decode: func(b []byte) (hourStatus, error) {
			h, rest, err := mapreduce.ReadString(b)
			if err != nil {
				return hourStatus{}, err
			}
			s, _, err := mapreduce.ReadInt64(rest)
			return hourStatus{h, s}, err
		},
	},
	TotalOrder: true,
	Combiner:   mapreduce.CombinerFunc[hourStatus, int64](sumCombine[hourStatus]),
	Reducer: mapreduce.ReducerFunc[hourStatus, int64, hourCount](func(_ context.Context, k hourStatus, ns iter.Seq[int64], emit func(hourCount)) error {
		emit(hourCount{k.Hour, k.Status, sum(ns)})
		return nil
	}),
	Output: mapreduce.ParquetOutput[hourCount](),
})

var byPath = mapreduce.Register(mapreduce.Job[request, string, int64, pathCount]{
	Name:  "RequestsByPath",
	Input: requests,
	Mapper: mapreduce.MapperFunc[request, string, int64](func(_ context.Context, r request, emit func(string, int64)) error {
		emit(r.Path, 1)
		return nil
	}),
	Combiner: mapreduce.CombinerFunc[string, int64](sumCombine[string]),
	Reducer: mapreduce.ReducerFunc[string, int64, pathCount](func(_ context.Context, p string, ns iter.Seq[int64], emit func(pathCount)) error {
		emit(pathCount{p, sum(ns)})
		return nil
	}),
	Output: mapreduce.ParquetOutput[pathCount](),
})

// ranked sorts the paths report by requests, most first, in one reducer.
type ranked struct {
	Requests int64
	Path     string
}

// readPaths reads a paths report.
var readPaths = rdd.Func(func(paths []string) *rdd.RDD[pathCount] { return rdd.Parquet[pathCount](paths...) })

var topPaths = mapreduce.Register(mapreduce.Job[pathCount, ranked, bool, pathCount]{
	Name:  "TopPaths",
	Input: func(paths []string) *rdd.RDD[pathCount] { return rdd.Parquet[pathCount](paths...) },
	Mapper: mapreduce.MapperFunc[pathCount, ranked, bool](func(_ context.Context, p pathCount, emit func(ranked, bool)) error {
		emit(ranked{p.Requests, p.Path}, true)
		return nil
	}),
	SortKey: mapreduce.KeyOrder[ranked]{
		Append: func(dst []byte, k ranked) []byte {
			return mapreduce.AppendString(mapreduce.AppendInt64(dst, -k.Requests), k.Path)
		},
		Decode: func(b []byte) (ranked, error) {
			n, rest, err := mapreduce.ReadInt64(b)
			if err != nil {
				return ranked{}, err
			}
			p, _, err := mapreduce.ReadString(rest)
			return ranked{-n, p}, err
		},
	},
	Reducers: 1,
	Reducer: mapreduce.ReducerFunc[ranked, bool, pathCount](func(_ context.Context, k ranked, _ iter.Seq[bool], emit func(pathCount)) error {
		emit(pathCount{k.Path, k.Requests})
		return nil
	}),
	Output: mapreduce.ParquetOutput[pathCount](),
})

func sum(ns iter.Seq[int64]) int64 {
	var s int64
	for n := range ns {
		s += n
	}
	return s
}

func sumCombine[K any](_ context.Context, _ K, ns iter.Seq[int64], emit func(int64)) error {
	emit(sum(ns))
	return nil
}

var (
	output = pflag.String("output", "", "directory for the reports (required)")
	top    = pflag.Int("top", 10, "how many of the most requested paths to print")
)

func main() {
	driver.Usage("--output DIR INPUT...", "Counts requests per hour and status, and per path, in JSON-lines access logs.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if *output == "" || pflag.NArg() == 0 {
			return errors.New("need --output DIR and at least one INPUT")
		}
		if err := os.MkdirAll(*output, 0o755); err != nil {
			return err
		}
		in := pflag.Args()
		if _, err := byHour.Run(ctx, s, mapreduce.Args{Inputs: in, Output: filepath.Join(*output, "status-by-hour")}); err != nil {
			return err
		}
		paths := filepath.Join(*output, "paths")
		if _, err := byPath.Run(ctx, s, mapreduce.Args{Inputs: in, Output: paths}); err != nil {
			return err
		}
		ranked := filepath.Join(*output, "top-paths")
		if _, err := topPaths.Run(ctx, s, mapreduce.Args{Inputs: []string{paths}, Output: ranked}); err != nil {
			return err
		}
		// The ranked paths are one file, one partition: Take keeps its
		// order (the driver reads the output: on a cluster, DIR must be on
		// a file system the driver shares).
		best, err := rdd.Take(ctx, s, readPaths.Invoke([]string{ranked}), *top)
		if err != nil {
			return err
		}
		for _, p := range best {
			fmt.Printf("%s\t%d\n", p.Path, p.Requests)
		}
		return nil
	})
}
