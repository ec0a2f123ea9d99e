package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "GATEWAY_"

// Load returns the configuration: defaults, then the YAML file at path (if
// path is not empty), then environment overrides looked up with lookupEnv
// (os.LookupEnv in production). The result is validated.
func Load(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var errs []error
	where := "config"
	if path != "" {
		where = "config " + path
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		errs = append(errs, decodeYAML(data, &cfg, lookupEnv))
	}
	errs = append(errs, applyEnv(&cfg, lookupEnv))
	// Validate even after a decoding error, so one run reports every
	// problem; a setting that failed to decode kept its valid default.
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("%s: %w", where, err)
	}
	return cfg, nil
}

// decodeYAML merges a YAML document into cfg, strictly: every key must be
// known and every value of the right type.
func decodeYAML(data []byte, cfg *Config, lookupEnv func(string) (string, bool)) error {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if doc == nil {
		return nil // an empty file keeps the defaults
	}
	d := decoder{lookupEnv: lookupEnv}
	d.value("", doc, reflect.ValueOf(cfg).Elem())
	sortFieldErrors(d.errs)
	return errors.Join(d.errs...)
}

type decoder struct {
	lookupEnv func(string) (string, bool)
	errs      []error
}

func (d *decoder) fail(path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	d.errs = append(d.errs, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// value decodes src (as produced by the YAML parser: maps, slices, strings,
// numbers, bools, nil) into dst, recording errors with their key path.
func (d *decoder) value(path string, src any, dst reflect.Value) {
	if src == nil {
		return // "key:" with nothing after it keeps the default
	}
	switch {
	case dst.Type() == durationType:
		s, ok := src.(string)
		if !ok {
			d.fail(path, "want a duration such as 30s or 5m, got %s", describe(src))
			return
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, "want a duration such as 30s or 5m, got %q", s)
			return
		}
		dst.SetInt(int64(v))
		return
	case dst.Type() == secretType:
		s, ok := scalarString(src)
		if !ok {
			d.fail(path, "want a string, got %s", describe(src))
			return
		}
		sec, err := ResolveSecret(s, d.lookupEnv)
		if err != nil {
			d.fail(path, "%v", err)
			return
		}
		dst.Set(reflect.ValueOf(sec))
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		m, ok := src.(map[string]any)
		if !ok {
			d.fail(path, "want a mapping, got %s", describe(src))
			return
		}
		fields := fieldsByKey(dst.Type())
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			i, ok := fields[k]
			if !ok {
				d.fail(join(path, k), "unknown key%s", suggest(k, fields))
				continue
			}
			d.value(join(path, k), m[k], dst.Field(i))
		}
	case reflect.Map:
		m, ok := src.(map[string]any)
		if !ok {
			d.fail(path, "want a mapping, got %s", describe(src))
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMap(dst.Type()))
		}
		for k, v := range m {
			elem := reflect.New(dst.Type().Elem()).Elem()
			d.value(join(path, k), v, elem)
			dst.SetMapIndex(reflect.ValueOf(k), elem)
		}
	case reflect.Slice:
		list, ok := src.([]any)
		if !ok {
			d.fail(path, "want a list, got %s", describe(src))
			return
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, v := range list {
			d.value(fmt.Sprintf("%s[%d]", path, i), v, out.Index(i))
		}
		dst.Set(out)
	case reflect.String:
		s, ok := src.(string)
		if !ok {
			d.fail(path, "want a string, got %s", describe(src))
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := src.(bool)
		if !ok {
			d.fail(path, "want true or false, got %s", describe(src))
			return
		}
		dst.SetBool(b)
	case reflect.Interface:
		// Free-form settings (an adapter's): kept as parsed, checked by
		// their owner.
		dst.Set(reflect.ValueOf(src))
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, ok := toInt64(src)
		if !ok || dst.OverflowInt(n) {
			d.fail(path, "want an integer, got %s", describe(src))
			return
		}
		dst.SetInt(n)
	default:
		d.fail(path, "unsupported setting type %s (a bug in config)", dst.Type())
	}
}

func fieldsByKey(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if key := yamlKey(t.Field(i)); key != "" {
			out[key] = i
		}
	}
	return out
}

func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if key == "-" {
		return ""
	}
	return key
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest names the known key closest to a misspelt one.
func suggest(k string, fields map[string]int) string {
	best, bestDist := "", 3
	for f := range fields {
		if dist := editDistance(k, f); dist < bestDist || (dist == bestDist && f < best) {
			best, bestDist = f, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func scalarString(src any) (string, bool) {
	switch v := src.(type) {
	case string:
		return v, true
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(v), true
	}
	return "", false
}

func toInt64(src any) (int64, bool) {
	switch v := src.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		if v > math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	case float64:
		if v != math.Trunc(v) || v > math.MaxInt64 || v < math.MinInt64 {
			return 0, false
		}
		return int64(v), true
	}
	return 0, false
}

func describe(src any) string {
	switch v := src.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%v", src)
}

// applyEnv sets every scalar setting that has a GATEWAY_* variable. Lists
// are comma-separated. Maps (named instances) are configured in the file.
func applyEnv(cfg *Config, lookupEnv func(string) (string, bool)) error {
	d := decoder{lookupEnv: lookupEnv}
	walkEnv(&d, "", reflect.ValueOf(cfg).Elem())
	sortFieldErrors(d.errs)
	return errors.Join(d.errs...)
}

func walkEnv(d *decoder, path string, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		key := yamlKey(t.Field(i))
		if key == "" {
			continue
		}
		p := join(path, key)
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != secretType {
			walkEnv(d, p, f)
			continue
		}
		if f.Kind() == reflect.Map || (f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct) {
			continue // named instances are configured in the file
		}
		name := EnvName(p)
		raw, ok := d.lookupEnv(name)
		if !ok {
			continue
		}
		before := len(d.errs)
		d.value(p, envValue(raw, f), f)
		for j := before; j < len(d.errs); j++ {
			var fe *FieldError
			if errors.As(d.errs[j], &fe) {
				fe.Path = name + " (" + fe.Path + ")"
			}
		}
	}
}

// envValue converts an environment string into what the YAML parser would
// have produced for the target's kind.
func envValue(raw string, dst reflect.Value) any {
	if dst.Type() == durationType || dst.Type() == secretType {
		return raw
	}
	switch dst.Kind() {
	case reflect.Bool:
		if b, err := strconv.ParseBool(raw); err == nil {
			return b
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
			return n
		}
	case reflect.Slice:
		var out []any
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return raw
}

// EnvName is the environment variable that overrides the setting at path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

func sortFieldErrors(errs []error) {
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
}
