package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the chat protocol, in Unicode characters (code points).
const (
	maxNameChars    = 32
	maxMessageChars = 256
	// maxRoomNameChars bounds public room names; longer names must be a
	// 64-hex-digit room ID.
	maxRoomNameChars = 32
	// historySize is how many of the newest messages a member receives when
	// it joins.
	historySize = 100
)

// clientFrame is a decoded frame from a client. A field is nil when the
// frame does not have it.
type clientFrame struct {
	Name    *string `json:"name"`
	Message *string `json:"message"`
}

// chatMessage is a stored and broadcast chat message. It is stored as the
// exact JSON frame that members receive, so history replays byte for byte.
type chatMessage struct {
	Name      string `json:"name"`
	Message   string `json:"message"`
	Timestamp int64  `json:"timestamp"`
}

// parseClientFrame decodes a client's text frame. It rejects anything that
// is not one JSON object whose "name" and "message" fields, when present,
// are strings.
func parseClientFrame(data []byte) (clientFrame, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return clientFrame{}, fmt.Errorf("invalid frame: expected a JSON object such as {\"message\": \"hi\"}")
	}
	var f clientFrame
	for field, dst := range map[string]**string{"name": &f.Name, "message": &f.Message} {
		v, ok := raw[field]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return clientFrame{}, fmt.Errorf("invalid frame: %q must be a string", field)
		}
		*dst = &s
	}
	return f, nil
}

// validateMemberName checks a member name: 1 to 32 characters of valid
// UTF-8 without control characters.
func validateMemberName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return fmt.Errorf("invalid name: empty; use 1 to %d characters", maxNameChars)
	case n > maxNameChars:
		return fmt.Errorf("invalid name: %d characters long; use 1 to %d characters", n, maxNameChars)
	case !utf8.ValidString(name):
		return fmt.Errorf("invalid name: not valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("invalid name: contains a control character")
	}
	return nil
}

// validateMessage checks a chat message: 1 to 256 characters.
func validateMessage(msg string) error {
	n := utf8.RuneCountInString(msg)
	switch {
	case n == 0:
		return fmt.Errorf("invalid message: empty; use 1 to %d characters", maxMessageChars)
	case n > maxMessageChars:
		return fmt.Errorf("invalid message: %d characters long; use 1 to %d characters", n, maxMessageChars)
	}
	return nil
}

// Server frames. Each is one JSON object with exactly the demo's fields.

func errorFrame(msg string) []byte {
	return mustMarshal(struct {
		Error string `json:"error"`
	}{msg})
}

func joinedFrame(name string) []byte {
	return mustMarshal(struct {
		Joined string `json:"joined"`
	}{name})
}

func quitFrame(name string) []byte {
	return mustMarshal(struct {
		Quit string `json:"quit"`
	}{name})
}

func readyFrame() []byte { return []byte(`{"ready":true}`) }

// mustMarshal encodes v, which is always one of the frame types above and
// cannot fail to encode.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("chatroom: encode frame: %v", err))
	}
	return b
}
