package worker

import (
	"errors"
	"regexp"

	"github.com/sluicehq/sluice/internal/rpc"
)

// validApp keeps application ids usable as directory names: no separator,
// and no leading dot, so never "." or "..".
var validApp = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$`)

// validSHA is a lowercase hex sha256, the name of a cached binary.
var validSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ErrBadRequest is wrapped by the errors of requests with a malformed id.
var ErrBadRequest = errors.New("worker: bad request")

func checkApp(id string) error {
	if !validApp.MatchString(id) {
		return rpc.Errorf("bad_request", "%v: application id %q is not a name of 1 to 64 letters, digits, '_', '-' and '.' that starts with a letter, digit, '_' or '-'", ErrBadRequest, truncateID(id))
	}
	return nil
}

func checkSHA(sha string) error {
	if !validSHA.MatchString(sha) {
		return rpc.Errorf("bad_request", "%v: %q is not a lowercase hex sha256", ErrBadRequest, truncateID(sha))
	}
	return nil
}

// checkOutput validates the id of a map output.
func checkOutput(app string, nums ...int) error {
	if err := checkApp(app); err != nil {
		return err
	}
	for _, n := range nums {
		if n < 0 {
			return rpc.Errorf("bad_request", "%v: negative graph, shuffle, map or partition number %d", ErrBadRequest, n)
		}
	}
	return nil
}

func truncateID(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
