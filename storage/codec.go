package storage

import (
	"encoding/json"
	"fmt"
)

// Codec encodes and decodes values for the typed helpers.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec, built on encoding/json.
type JSON struct{}

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON data into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Get reads key inside t and decodes it with the database's codec. It
// returns the zero value and false for a missing key.
func Get[V any](t *Txn, key string) (V, bool, error) {
	var v V
	raw, ok, err := t.Get(key)
	if err != nil || !ok {
		return v, false, err
	}
	if err := t.db.codec.Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("storage: decode %q: %w", truncateKey(key), err)
	}
	return v, true, nil
}

// Put encodes v with the database's codec and writes it under key inside t.
func Put[V any](t *Txn, key string, v V) error {
	raw, err := t.db.codec.Marshal(v)
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
