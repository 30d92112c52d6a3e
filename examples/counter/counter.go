package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/storage"
)

// maxNameBytes is the longest counter name accepted, in bytes.
const maxNameBytes = 1024

// valueKey is the storage key of a counter's value.
const valueKey = "value"

// errInvalidName matches every error validateName returns.
var errInvalidName = errors.New("invalid counter name")

// validateName checks a counter name taken from the request path: 1 to
// 1,024 bytes of valid UTF-8 without control characters.
func validateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty; use /counter/NAME", errInvalidName)
	case len(name) > maxNameBytes:
		return fmt.Errorf("%w: the name is %d bytes long; use at most %d bytes", errInvalidName, len(name), maxNameBytes)
	}
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			return fmt.Errorf("%w: byte 0x%02X at offset %d is not valid UTF-8; use UTF-8 text", errInvalidName, name[i], i)
		case unicode.IsControl(r):
			return fmt.Errorf("%w: control character %U at offset %d; use printable text", errInvalidName, r, i)
		}
	}
	return nil
}

// Counter is the object behind /counter/{name}: one int64 kept in its
// durable storage. Each name has its own Counter, and the runtime runs its
// requests one at a time, so an increment needs no lock.
type Counter struct {
	state *actor.State
	// value mirrors the stored value, including the current turn's write
	// before it commits. If that commit fails, the runtime resets the
	// activation, and Init reads the value from storage again.
	value int64
}

func newCounter(state *actor.State) *Counter { return &Counter{state: state} }

// Init loads the stored value before the first request of an activation.
func (c *Counter) Init(ctx context.Context) error {
	v, _, err := storage.Get[int64](c.state.Storage(), valueKey)
	if err != nil {
		return fmt.Errorf("counter: load %s: %w", valueKey, err)
	}
	c.value = v
	return nil
}

// ServeHTTP increments the counter on POST and returns its value as plain
// text. On GET and HEAD it returns the value without changing it. The
// runtime holds the response until the increment is durable.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		next := c.value + 1
		if err := storage.Put(c.state.Storage(), valueKey, next); err != nil {
			c.state.Logger().ErrorContext(r.Context(), "counter: store value failed", "err", err)
			http.Error(w, "counter: could not store the new value; retry the request", http.StatusInternalServerError)
			return
		}
		c.value = next
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "counter: method "+r.Method+" not allowed; use GET, HEAD or POST", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, strconv.FormatInt(c.value, 10))
}
