package adapters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
)

// DecodeSettings decodes an instance's settings into dst, a pointer to a
// struct whose fields carry json tags (the setting keys). Unknown keys and
// values of the wrong type are errors naming the key, e.g.
// "settings.shortcode: unknown setting" or "settings.short_code: want
// string, got number". Every Secret field (directly in the struct or in
// nested structs) is then resolved with resolve; a failed resolution names
// the key too. Required settings and value checks are the adapter's job.
func DecodeSettings(settings map[string]any, dst any, resolve SecretResolver) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("settings: decode into %T: want a pointer to a struct", dst)
	}
	if settings == nil {
		settings = map[string]any{}
	}
	b, err := json.Marshal(normalizeYAML(settings))
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return settingsError(err)
	}
	if resolve == nil {
		resolve = EnvFileSecrets(nil)
	}
	return resolveSecrets(rv.Elem(), "settings", resolve)
}

// normalizeYAML turns the map[any]any some YAML decoders produce into
// map[string]any so that it can be encoded as JSON.
func normalizeYAML(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalizeYAML(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalizeYAML(e)
		}
		return out
	}
	return v
}

func settingsError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return fmt.Errorf("settings: want a mapping, got %s", te.Value)
		}
		return fmt.Errorf("settings.%s: want %s, got %s", field, typeName(te.Type), te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("settings.%s: unknown setting", strings.Trim(name, `"`))
	}
	return fmt.Errorf("settings: %w", err)
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map, reflect.Struct:
		return "mapping"
	}
	return t.String()
}

var secretType = reflect.TypeFor[Secret]()

func resolveSecrets(v reflect.Value, path string, resolve SecretResolver) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		switch {
		case f.Type == secretType:
			s := fv.Addr().Interface().(*Secret)
			if err := s.resolve(resolve); err != nil {
				return fmt.Errorf("%s.%s: %w", path, name, err)
			}
		case f.Type.Kind() == reflect.Struct:
			if err := resolveSecrets(fv, path+"."+name, resolve); err != nil {
				return err
			}
		}
	}
	return nil
}

// Secret is a setting that may be sensitive: written literally, or as a
// reference (env:NAME, file:/path) that DecodeSettings resolves. Its
// String, LogValue and MarshalJSON never show the value.
type Secret struct {
	raw   string // as written in the settings
	value string
}

// NewSecret returns a literal secret (for tests).
func NewSecret(v string) Secret { return Secret{raw: v, value: v} }

// Value returns the resolved value.
func (s Secret) Value() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String hides the value; it names the reference when there is one.
func (s Secret) String() string {
	if isSecretRef(s.raw) {
		return "[secret from " + s.raw + "]"
	}
	if s.value == "" {
		return ""
	}
	return "[secret]"
}

// LogValue keeps secrets out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes the hidden form, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads the raw setting, a string; DecodeSettings resolves it.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var raw string
	if err := json.Unmarshal(b, &raw); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[string]()}
	}
	*s = Secret{raw: raw}
	return nil
}

func (s *Secret) resolve(resolve SecretResolver) error {
	if s.raw == "" {
		return nil
	}
	v, err := resolve(s.raw)
	if err != nil {
		return err
	}
	s.value = v
	return nil
}

func isSecretRef(raw string) bool {
	return strings.HasPrefix(raw, "env:") || strings.HasPrefix(raw, "file:")
}

func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "mapping"
	case '[':
		return "list"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '"':
		return "string"
	}
	return "number"
}

// EnvFileSecrets returns the standard resolver, the same convention as the
// gateway's own configuration: "env:NAME" is the value of NAME (looked up
// with lookupEnv; nil means os.LookupEnv), "file:/path" the file's contents
// with trailing CR/LF removed, anything else the literal value.
func EnvFileSecrets(lookupEnv func(string) (string, bool)) SecretResolver {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	return func(ref string) (string, error) {
		switch {
		case strings.HasPrefix(ref, "env:"):
			name := strings.TrimPrefix(ref, "env:")
			if name == "" {
				return "", errors.New("env: reference without a variable name")
			}
			v, ok := lookupEnv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			return v, nil
		case strings.HasPrefix(ref, "file:"):
			b, err := os.ReadFile(strings.TrimPrefix(ref, "file:"))
			if err != nil {
				return "", fmt.Errorf("read secret file: %w", err)
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		return ref, nil
	}
}
