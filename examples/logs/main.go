// Command logs analyses web-server access logs in JSON lines, as an EMR
// log-analysis job does, with the mapreduce API: requests per hour and
// status code, and the most requested paths.
//
//	logs [--top N] [--skip-bad-records] --output DIR INPUT...
//
// Each line of INPUT is a JSON object with at least "time" (RFC 3339),
// "status" (a number) and "path". It writes
//
//	DIR/status-by-hour/part-*  hour<TAB>status<TAB>requests (hour as 2006-01-02T15, UTC), in order
//	DIR/paths/part-*           path<TAB>requests
//	DIR/top-paths/part-00000   path<TAB>requests, most requested first (ties by path)
//
// and prints the --top N (default 10) paths. A line that is not such an
// object fails the job, naming it; with --skip-bad-records it is skipped
// and counted (counter logs.BAD_RECORDS in --job-summary). The output is
// text (TSV) for now: Parquet output comes with Sluice's output formats.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// ErrBadRecord is wrapped by the error of a line that is not a request.
var ErrBadRecord = rdd.RegisterError(errors.New("logs: bad record"))

// parse reads a line, or counts and skips it with --skip-bad-records.
func parse(ctx context.Context, line string) (request, bool, error) {
	var r request
	err := json.Unmarshal([]byte(line), &r)
	if err == nil && (r.Time.IsZero() || r.Status == 0 || r.Path == "") {
		err = errors.New(`want "time", "status" and "path"`)
	}
	if err == nil {
		return r, true, nil
	}
	if *skipBad {
		mapreduce.Count(ctx, "logs", "BAD_RECORDS", 1)
		return r, false, nil
	}
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return r, false, rdd.Permanent(fmt.Errorf("%w %q: %v (--skip-bad-records skips such lines)", ErrBadRecord, line, err))
}

// hourStatus is the key of the first report.
type hourStatus struct {
	Hour   string
	Status int64
}

var byHour = mapreduce.Register(mapreduce.Job[string, hourStatus, int64, string]{
	Name:  "StatusByHour",
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, hourStatus, int64](func(ctx context.Context, line string, emit func(hourStatus, int64)) error {
		r, ok, err := parse(ctx, line)
		if ok {
			emit(hourStatus{r.Time.UTC().Format("2006-01-02T15"), int64(r.Status)}, 1)
		}
		return err
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
	Reducer: mapreduce.ReducerFunc[hourStatus, int64, string](func(_ context.Context, k hourStatus, ns iter.Seq[int64], emit func(string)) error {
		emit(fmt.Sprintf("%s\t%d\t%d", k.Hour, k.Status, sum(ns)))
		return nil
	}),
	Output: mapreduce.TextOutput[string](),
})

var byPath = mapreduce.Register(mapreduce.Job[string, string, int64, rdd.Pair[string, int64]]{
	Name:  "RequestsByPath",
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, string, int64](func(ctx context.Context, line string, emit func(string, int64)) error {
		r, ok, err := parse(ctx, line)
		if ok {
			emit(r.Path, 1)
		}
		return err
	}),
	Combiner: mapreduce.CombinerFunc[string, int64](sumCombine[string]),
	Reducer: mapreduce.ReducerFunc[string, int64, rdd.Pair[string, int64]](func(_ context.Context, p string, ns iter.Seq[int64], emit func(rdd.Pair[string, int64])) error {
		emit(rdd.KV(p, sum(ns)))
		return nil
	}),
	Output: mapreduce.TextOutput[rdd.Pair[string, int64]](),
})

// ranked sorts the paths report by requests, most first, in one reducer.
type ranked struct {
	Requests int64
	Path     string
}

var topPaths = mapreduce.Register(mapreduce.Job[string, ranked, bool, string]{
	Name:  "TopPaths",
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, ranked, bool](func(_ context.Context, line string, emit func(ranked, bool)) error {
		i := strings.LastIndexByte(line, '\t')
		n, err := strconv.ParseInt(line[i+1:], 10, 64)
		if i < 0 || err != nil {
			return fmt.Errorf("logs: bad paths line %q", line)
		}
		emit(ranked{n, line[:i]}, true)
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
	Reducer: mapreduce.ReducerFunc[ranked, bool, string](func(_ context.Context, k ranked, _ iter.Seq[bool], emit func(string)) error {
		emit(fmt.Sprintf("%s\t%d", k.Path, k.Requests))
		return nil
	}),
	Output: mapreduce.TextOutput[string](),
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
	output  = pflag.String("output", "", "directory for the reports (required)")
	top     = pflag.Int("top", 10, "how many of the most requested paths to print")
	skipBad = pflag.Bool("skip-bad-records", false, "skip and count lines that are not requests, instead of failing")
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
		return printTop(filepath.Join(ranked, "part-00000"), *top)
	})
}

// printTop prints the first n lines of the ranked paths (the driver reads
// the output: on a cluster, DIR must be on a file system it shares).
func printTop(path string, n int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		fmt.Println(sc.Text())
	}
	return sc.Err()
}
