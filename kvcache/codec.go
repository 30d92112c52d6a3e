package kvcache

import "encoding/json"

// Codec converts the values of a Cache made with NewNamespaceCache to and
// from the bytes stored in its Namespace.
type Codec[V any] interface {
	Encode(v V) ([]byte, error)
	Decode(data []byte) (V, error)
}

// Bytes is the Codec of []byte values, stored as they are.
type Bytes struct{}

// Encode returns v.
func (Bytes) Encode(v []byte) ([]byte, error) { return v, nil }

// Decode returns data.
func (Bytes) Decode(data []byte) ([]byte, error) { return data, nil }

// String is the Codec of string values, stored as their bytes.
type String struct{}

// Encode returns the bytes of v.
func (String) Encode(v string) ([]byte, error) { return []byte(v), nil }

// Decode returns data as a string.
func (String) Decode(data []byte) (string, error) { return string(data), nil }

// JSON is the Codec that stores values as JSON with encoding/json.
type JSON[V any] struct{}

// Encode returns the JSON encoding of v.
func (JSON[V]) Encode(v V) ([]byte, error) { return json.Marshal(v) }

// Decode parses the JSON in data.
func (JSON[V]) Decode(data []byte) (V, error) {
	var v V
	err := json.Unmarshal(data, &v)
	return v, err
}
