package storage

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// codecInputs are JSON texts on both sides of the codec's fast paths.
var codecInputs = []string{
	`0`, `-0`, `7`, `-12`, `9223372036854775807`, `-9223372036854775808`,
	`9223372036854775808`, `18446744073709551615`, `18446744073709551616`,
	`01`, `-`, `1.0`, `1e3`, ` 5`, `5 `, `+5`, `null`, `true`, `""`, `"a"`,
	`"a b"`, `"<&>"`, `"\"q\""`, `"é"`, `"\u00e9"`, `"tab\t"`, `"x`, `x"`,
	`"`, ``, `[1]`, `{"a":1}`,
}

// decodeBoth decodes in with the codec and with encoding/json into fresh
// values of type V and checks that both give the same value and the same
// success.
func decodeBoth[V any](t *testing.T, in string) {
	t.Helper()
	var got, want V
	gotErr := JSON{}.Unmarshal([]byte(in), &got)
	wantErr := json.Unmarshal([]byte(in), &want)
	assert.Equal(t, wantErr == nil, gotErr == nil, "%T from %q: error %v, encoding/json %v", got, in, gotErr, wantErr)
	assert.Equal(t, want, got, "%T from %q", got, in)
}

// encodeBoth checks that the codec encodes v to the bytes of encoding/json.
func encodeBoth(t *testing.T, v any) {
	t.Helper()
	got, err := JSON{}.Marshal(v)
	require.NoError(t, err)
	want, err := json.Marshal(v)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "%T %v", v, v)
}

func TestJSONCodecMatchesStdlib(t *testing.T) {
	for _, in := range codecInputs {
		decodeBoth[int64](t, in)
		decodeBoth[int](t, in)
		decodeBoth[uint64](t, in)
		decodeBoth[string](t, in)
	}
	for _, v := range []any{int64(0), int64(-5), int64(math.MinInt64), int64(math.MaxInt64),
		0, -1, math.MaxInt, uint64(0), uint64(math.MaxUint64),
		"", "plain", "a b", "<&>", `q"`, `back\slash`, "é", "tab\t", "\x7f", "\xff"} {
		encodeBoth(t, v)
	}
}

func FuzzJSONCodec(f *testing.F) {
	for _, in := range codecInputs {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		decodeBoth[int64](t, in)
		decodeBoth[int](t, in)
		decodeBoth[uint64](t, in)
		decodeBoth[string](t, in)
		encodeBoth(t, in)
		// Integers parsed from the input go through the encoders too.
		if n, err := strconv.ParseInt(in, 10, 64); err == nil {
			encodeBoth(t, n)
			encodeBoth(t, int(n))
		}
		if n, err := strconv.ParseUint(in, 10, 64); err == nil {
			encodeBoth(t, n)
		}
	})
}

// countingCodec is JSON that counts its calls.
type countingCodec struct {
	JSON
	marshals, unmarshals *int
}

func (c countingCodec) Marshal(v any) ([]byte, error) {
	*c.marshals++
	return c.JSON.Marshal(v)
}

func (c countingCodec) Unmarshal(data []byte, v any) error {
	*c.unmarshals++
	return c.JSON.Unmarshal(data, v)
}

func TestPutGetEveryType(t *testing.T) {
	type point struct{ X, Y int }
	check := func(t *testing.T, db *DB) {
		tx := db.Begin(1, ObjectID{1})
		defer tx.Discard()
		require.NoError(t, Put(tx, "n", int64(-42)))
		require.NoError(t, Put(tx, "s", "plain"))
		long := strings.Repeat("long ", 20) // longer than the stack buffer
		require.NoError(t, Put(tx, "long", long))
		require.NoError(t, Put(tx, "p", point{1, 2}))
		require.NoError(t, tx.Put("bad", []byte("x")))

		n, ok, err := Get[int64](tx, "n")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, int64(-42), n)
		s, _, err := Get[string](tx, "s")
		require.NoError(t, err)
		assert.Equal(t, "plain", s)
		s, _, err = Get[string](tx, "long")
		require.NoError(t, err)
		assert.Equal(t, long, s)
		raw, _, err := tx.Get("s")
		require.NoError(t, err)
		assert.Equal(t, `"plain"`, string(raw))
		p, _, err := Get[point](tx, "p")
		require.NoError(t, err)
		assert.Equal(t, point{1, 2}, p)
		_, ok, err = Get[int64](tx, "missing")
		require.NoError(t, err)
		assert.False(t, ok)

		n, ok, err = Get[int64](tx, "bad")
		assert.ErrorContains(t, err, `decode "bad"`)
		assert.False(t, ok)
		assert.Zero(t, n)
	}
	t.Run("json", func(t *testing.T) {
		db, _ := openTest(t, nil)
		check(t, db)
	})
	t.Run("custom codec", func(t *testing.T) {
		var marshals, unmarshals int
		db, _ := openTest(t, &Options{Codec: countingCodec{marshals: &marshals, unmarshals: &unmarshals}})
		check(t, db)
		assert.Equal(t, 4, marshals, "every encode goes through the configured codec")
		assert.Equal(t, 5, unmarshals, "every decode goes through the configured codec")
	})
}

// keepingCodec stores raw bytes and keeps the last input of Unmarshal.
type keepingCodec struct{ lastInput *[]byte }

func (keepingCodec) Marshal(v any) ([]byte, error) { return []byte(v.(string)), nil }

func (c keepingCodec) Unmarshal(data []byte, v any) error {
	*c.lastInput = data
	*v.(*string) = "decoded"
	return nil
}

func TestCodecMayKeepInput(t *testing.T) {
	var lastInput []byte
	db, _ := openTest(t, &Options{Codec: keepingCodec{lastInput: &lastInput}})
	id := ObjectID{1}
	cache := &Cache{MaxBytes: 1 << 10}
	for _, v := range []string{"aaaa", "bbbb", "cccc"} {
		tx := db.BeginCached(1, id, cache)
		_, _, err := Get[string](tx, "k")
		require.NoError(t, err)
		require.NoError(t, Put(tx, "k", v))
		commit(t, tx)
	}
	// Each Get decoded a copy: the bytes kept from reading "bbbb" stay
	// the same after "cccc" overwrote the value and the pooled Txn state
	// was reused.
	assert.Equal(t, "bbbb", string(lastInput))
	tx := db.Begin(1, id)
	defer tx.Discard()
	_, ok, err := Get[string](tx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "cccc", string(lastInput))
}
