package compress

import (
	"testing"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

func guard(t *testing.T) func() { return fuzztest.Guard(t) }
