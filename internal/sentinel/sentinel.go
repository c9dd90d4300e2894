package sentinel

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

var registry struct {
	sync.Mutex
	byKey map[string]error
	keys  []string // in registration order
}

// Register records err under key, or under key#2, key#3, ... when key is
// taken (two registrations on one line), and returns the key it used.
func Register(key string, err error) string {
	registry.Lock()
	defer registry.Unlock()
	if registry.byKey == nil {
		registry.byKey = map[string]error{}
	}
	for base, i := key, 2; registry.byKey[key] != nil; i++ {
		key = fmt.Sprintf("%s#%d", base, i)
	}
	registry.byKey[key] = err
	registry.keys = append(registry.keys, key)
	return key
}

// Matching returns the keys of the registered errors that err matches
// (errors.Is), in registration order.
func Matching(err error) []string {
	if err == nil {
		return nil
	}
	registry.Lock()
	keys := slices.Clone(registry.keys)
	errs := make([]error, len(keys))
	for i, k := range keys {
		errs[i] = registry.byKey[k]
	}
	registry.Unlock()
	var out []string
	for i, e := range errs {
		if errors.Is(err, e) {
			out = append(out, keys[i])
		}
	}
	return out
}

// Lookup returns the error registered under key.
func Lookup(key string) (error, bool) {
	registry.Lock()
	defer registry.Unlock()
	err, ok := registry.byKey[key]
	return err, ok
}

// Keys returns every key, in registration order.
func Keys() []string {
	registry.Lock()
	defer registry.Unlock()
	return slices.Clone(registry.keys)
}
