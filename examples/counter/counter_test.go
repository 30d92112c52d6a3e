package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		counter string
		want    string // part of the error; empty for a valid name
	}{
		{"plain", "apples", ""},
		{"slash", "a/b", ""},
		{"unicode", "zähler-🍎", ""},
		{"at limit", strings.Repeat("n", maxNameBytes), ""},
		{"over limit", strings.Repeat("n", maxNameBytes+1), "1025 bytes long; use at most 1024 bytes"},
		{"multibyte over limit", strings.Repeat("ä", maxNameBytes/2) + "x", "1025 bytes long"},
		{"empty", "", "the name is empty"},
		{"replacement character", "a\uFFFDb", ""},
		{"invalid UTF-8", "a\xffb", "byte 0xFF at offset 1 is not valid UTF-8"},
		{"truncated UTF-8", "ab\xc3", "byte 0xC3 at offset 2 is not valid UTF-8"},
		{"NUL", "a\x00b", "control character U+0000 at offset 1"},
		{"newline", "a\nb", "control character U+000A at offset 1"},
		{"DEL", "a\x7fb", "control character U+007F at offset 1"},
		{"C1 control", "ä\u0085", "control character U+0085 at offset 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateName(tt.counter)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, errInvalidName)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestCountPrimes(t *testing.T) {
	assert.Equal(t, 0, countPrimes(2))
	assert.Equal(t, 1, countPrimes(3))
	assert.Equal(t, 4, countPrimes(10))
	assert.Equal(t, 25, countPrimes(100))
	assert.Equal(t, 78498, countPrimes(1_000_000))
}
