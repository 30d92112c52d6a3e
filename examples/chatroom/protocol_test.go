package main

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseClientFrame(t *testing.T) {
	cases := []struct {
		in      string
		name    string // "-" for absent
		message string // "-" for absent
		err     string
	}{
		{`{"name":"ann"}`, "ann", "-", ""},
		{`{"message":"hi","extra":[1,2]}`, "-", "hi", ""},
		{`{"name":"ann","message":"hi"}`, "ann", "hi", ""},
		{`{}`, "-", "-", ""},
		{`null`, "-", "-", ""},
		{`{"name":null}`, "", "-", ""},
		{`{"name":1}`, "", "", `"name" must be a string`},
		{`{"message":{"a":1}}`, "", "", `"message" must be a string`},
		{`[]`, "", "", "invalid frame"},
		{`"text"`, "", "", "invalid frame"},
		{`{"name":"ann"`, "", "", "invalid frame"},
		{``, "", "", "invalid frame"},
	}
	for _, tc := range cases {
		f, err := parseClientFrame([]byte(tc.in))
		if tc.err != "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.name, strOrDash(f.Name), "name of %s", tc.in)
		assert.Equal(t, tc.message, strOrDash(f.Message), "message of %s", tc.in)
	}
}

func strOrDash(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

func TestValidateLengthsInCharacters(t *testing.T) {
	assert.NoError(t, validateMemberName(strings.Repeat("名", 32)))
	assert.Error(t, validateMemberName(strings.Repeat("名", 33)))
	assert.Error(t, validateMemberName(""))
	assert.Error(t, validateMemberName("tab\there"))
	assert.NoError(t, validateMessage(strings.Repeat("😀", 256)))
	assert.Error(t, validateMessage(strings.Repeat("😀", 257)))
	assert.Error(t, validateMessage(""))
}

func TestServerFramesAreExact(t *testing.T) {
	assert.JSONEq(t, `{"error":"x \"y\""}`, string(errorFrame(`x "y"`)))
	assert.JSONEq(t, `{"joined":"ann"}`, string(joinedFrame("ann")))
	assert.JSONEq(t, `{"quit":"ann"}`, string(quitFrame("ann")))
	assert.JSONEq(t, `{"ready":true}`, string(readyFrame()))
	assert.JSONEq(t, `{"name":"ann","message":"hi","timestamp":1767268800000}`,
		string(mustMarshal(chatMessage{Name: "ann", Message: "hi", Timestamp: 1767268800000})))
}

// FuzzClientFrame checks that no frame makes parsing or validation panic,
// and that whatever passes validation is within the protocol's limits and
// round-trips through the broadcast frame.
func FuzzClientFrame(f *testing.F) {
	for _, seed := range []string{`{"name":"ann"}`, `{"message":"hi"}`, `{"name":1}`, `[`, `{"message":"\ud800"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := parseClientFrame(data)
		if err != nil {
			return
		}
		if fr.Name != nil && validateMemberName(*fr.Name) == nil {
			n := utf8.RuneCountInString(*fr.Name)
			if n < 1 || n > maxNameChars {
				t.Fatalf("name of %d characters accepted", n)
			}
		}
		if fr.Message != nil && validateMessage(*fr.Message) == nil {
			b := mustMarshal(chatMessage{Name: "n", Message: *fr.Message, Timestamp: 1})
			var back chatMessage
			if err := json.Unmarshal(b, &back); err != nil || back.Message != *fr.Message {
				t.Fatalf("message %q does not round-trip: %v", *fr.Message, err)
			}
		}
	})
}
