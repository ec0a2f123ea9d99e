// Package wire holds small helpers for provider payloads: JSON whose field
// types drift between documents, SDKs and versions (a code that is a
// number in one place and a string in another), and the bounding of
// texts taken from them.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text is a JSON scalar read as text: a string's contents, or a number's
// literal exactly as written (1500.00 stays "1500.00", 254700000123 stays
// "254700000123"; no float conversion). Null and an absent key give the
// zero Text. Booleans, objects and arrays are an error.
type Text struct {
	S string
	// Present reports that the key was there with a non-null value.
	Present bool
	// Number reports that the value was a JSON number.
	Number bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("wire: empty value")
	case bytes.Equal(b, []byte("null")):
		*t = Text{}
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text{S: s, Present: true}
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		// The decoder has already checked the number's syntax.
		*t = Text{S: string(b), Present: true, Number: true}
		return nil
	}
	return fmt.Errorf("wire: want a string or a number, got %s", Quote(string(b), 20))
}

// String returns the text.
func (t Text) String() string { return t.S }

// Quote quotes s for an error or a quarantine reason, cut to at most n
// runes so that a hostile body cannot flood the logs.
func Quote(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// MaxText bounds a provider text kept from a hostile body (a status, an
// error code or message), in bytes.
const MaxText = 200

// Clip makes s valid UTF-8 (bad bytes replaced) of at most MaxText bytes,
// cut at a rune boundary.
func Clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxText {
		return s
	}
	s = s[:MaxText]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Item is a Name/Value or Key/Value pair as Daraja sends them in
// CallbackMetadata.Item and ResultParameters.ResultParameter.
type Item struct {
	Name  string `json:"Name"`
	Key   string `json:"Key"`
	Value Text   `json:"Value"`
}

// Items reads a list of items that may arrive as an array, as a single
// object, or wrapped in an object under one of wrapKeys (for example
// {"ResultParameter":[…]}). It returns the values by Name (or Key); the
// first occurrence of a name wins. Null or absent input gives an empty
// map.
func Items(raw json.RawMessage, wrapKeys ...string) (map[string]Text, error) {
	out := map[string]Text{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	if raw[0] == '{' && len(wrapKeys) > 0 {
		var wrapper map[string]json.RawMessage
		if err := json.Unmarshal(raw, &wrapper); err != nil {
			return nil, err
		}
		for _, k := range wrapKeys {
			if inner, ok := wrapper[k]; ok {
				return Items(inner)
			}
		}
	}
	var list []Item
	switch raw[0] {
	case '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
	case '{':
		var one Item
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, err
		}
		list = []Item{one}
	default:
		return nil, fmt.Errorf("wire: want a list of items, got %s", Quote(string(raw), 20))
	}
	for _, it := range list {
		name := it.Name
		if name == "" {
			name = it.Key
		}
		if _, seen := out[name]; !seen && name != "" {
			out[name] = it.Value
		}
	}
	return out, nil
}
