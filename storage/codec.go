package storage

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Codec encodes and decodes values for the typed helpers. Unmarshal gets
// a copy of the stored value, which it may keep.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec, built on encoding/json.
type JSON struct{}

// Marshal encodes v as JSON. Values of type int, int64 and uint64 and plain
// ASCII strings, the usual counters and names, skip encoding/json's
// reflection. The bytes are the same.
func (JSON) Marshal(v any) ([]byte, error) {
	if b, ok := marshalFast(nil, v); ok {
		return b, nil
	}
	return json.Marshal(v)
}

// marshalFast appends the JSON encoding of v to dst without reflection
// when v is an int, int64, uint64 or plain ASCII string, and reports
// whether it did. It keeps neither v nor dst.
func marshalFast(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case uint64:
		return strconv.AppendUint(dst, v, 10), true
	case string:
		if plainString(v) {
			dst = slices.Grow(dst, len(v)+2)
			return append(append(append(dst, '"'), v...), '"'), true
		}
	}
	return dst, false
}

// Unmarshal decodes JSON data into v. As with Marshal, int, int64, uint64
// and plain ASCII strings skip reflection, with the results of
// encoding/json.
func (JSON) Unmarshal(data []byte, v any) error {
	if unmarshalFast(data, v) {
		return nil
	}
	return json.Unmarshal(data, v)
}

// unmarshalFast decodes data into v without reflection when v is an *int,
// *int64, *uint64 or *string and data is a plain integer or ASCII string,
// and reports whether it did. It keeps neither v nor data, so a caller's
// value can stay on its stack.
func unmarshalFast(data []byte, v any) bool {
	switch v := v.(type) {
	case *int64:
		if plainInt(data) {
			if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
				*v = n
				return true
			}
		}
	case *int:
		if plainInt(data) {
			if n, err := strconv.ParseInt(string(data), 10, strconv.IntSize); err == nil {
				*v = int(n)
				return true
			}
		}
	case *uint64:
		if plainInt(data) && data[0] != '-' {
			if n, err := strconv.ParseUint(string(data), 10, 64); err == nil {
				*v = n
				return true
			}
		}
	case *string:
		if len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' && plainString(data[1:len(data)-1]) {
			*v = string(data[1 : len(data)-1])
			return true
		}
	}
	return false
}

// plainInt reports whether data is an optional minus sign followed by
// decimal digits with no leading zero.
func plainInt(data []byte) bool {
	digits := data
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// plainString reports whether s encodes as itself between quotes: printable
// ASCII without the characters encoding/json escapes.
func plainString[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// Get reads key inside t and decodes it with the database's codec. It
// returns the zero value and false for a missing key.
func Get[V any](t *Txn, key string) (V, bool, error) {
	var v V
	if _, ok := t.db.codec.(JSON); !ok {
		// Another codec may keep its input, so it decodes a copy.
		raw, ok, err := t.Get(key)
		if err != nil || !ok {
			return v, false, err
		}
		// A value passed to the interface escapes to the heap, so this
		// path decodes into its own variable and v stays on the stack.
		var decoded V
		if err := t.db.codec.Unmarshal(raw, &decoded); err != nil {
			return v, false, fmt.Errorf("storage: decode %q: %w", truncateKey(key), err)
		}
		return decoded, true, nil
	}
	// encoding/json copies what it keeps, so JSON decodes the stored
	// value in place, under the Txn's lock.
	raw, ok, err := t.beginView(key)
	if err != nil || !ok {
		return v, false, err
	}
	defer t.endView()
	if unmarshalFast(raw, &v) {
		return v, true, nil
	}
	// A value passed to json.Unmarshal escapes to the heap, so only this
	// path allocates one.
	var decoded V
	if err := json.Unmarshal(raw, &decoded); err != nil {
		return v, false, fmt.Errorf("storage: decode %q: %w", truncateKey(key), err)
	}
	return decoded, true, nil
}

// Put encodes v with the database's codec and writes it under key inside t.
func Put[V any](t *Txn, key string, v V) error {
	var raw []byte
	var err error
	if _, ok := t.db.codec.(JSON); ok {
		// Put copies the value, so a short encoding can live on the stack.
		var buf [40]byte
		var fast bool
		if raw, fast = marshalFast(buf[:0], v); fast {
			return t.Put(key, raw)
		}
		raw, err = json.Marshal(v)
	} else {
		raw, err = t.db.codec.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("storage: encode %q: %w", truncateKey(key), err)
	}
	return t.Put(key, raw)
}

// TypedEntry is one decoded key and value returned by ListOf.
type TypedEntry[V any] struct {
	Key   string
	Value V
}

// ListOf lists like Txn.List and decodes every value with the database's
// codec.
func ListOf[V any](t *Txn, opts ListOptions) ([]TypedEntry[V], error) {
	raw, err := t.List(opts)
	if err != nil {
		return nil, err
	}
	out := make([]TypedEntry[V], len(raw))
	for i, e := range raw {
		out[i].Key = e.Key
		if err := t.db.codec.Unmarshal(e.Value, &out[i].Value); err != nil {
			return nil, fmt.Errorf("storage: decode %q: %w", truncateKey(e.Key), err)
		}
	}
	return out, nil
}
