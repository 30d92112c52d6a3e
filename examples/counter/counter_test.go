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
		{"invalid UTF-8", "a\xffb", "not valid UTF-8"},
		{"NUL", "a\x00b", "control character"},
		{"newline", "a\nb", "control character"},
		{"DEL", "a\x7fb", "control character"},
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
