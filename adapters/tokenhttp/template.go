package tokenhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Template values. Each is fixed when the token is stored (see vars) and
// kept in its job, so every retry sends the same request; secrets are
// added only when the request is sent.
var (
	stringVars = []string{
		"token_id", "tenant_id", "device_id", "device_external_id", "serial", "contract_id", "account_number",
		"command", "type", "credit_until", "issued_at", "issued_date", "currency",
	}
	numberVars = []string{
		"units", "value", "days", "hours", "seconds", "credit_until_unix", "issued_at_unix", "amount", "amount_minor",
	}
)

const secretPrefix = "secret."

// placeholder is {name} or {name|string}. Templates have no other braces.
var placeholder = regexp.MustCompile(`\{([a-z_]+(?:\.[A-Za-z0-9_]+)?)(\|string)?\}`)

// part is a literal or a placeholder of a template string.
type part struct {
	lit    string
	name   string // placeholder name; "" for a literal
	asText bool   // |string: a number rendered as a JSON string
}

// text is a parsed template string.
type text []part

// whole reports whether t is one placeholder and nothing else: such a
// body leaf keeps its value's type.
func (t text) whole() (part, bool) {
	if len(t) == 1 && t[0].name != "" {
		return t[0], true
	}
	return part{}, false
}

// parseText parses s, checking every placeholder against the known values
// and the instance's secrets.
func parseText(s string, secrets map[string]string) (text, error) {
	var out text
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			out = append(out, part{lit: s[last:m[0]]})
		}
		last = m[1]
		name := s[m[2]:m[3]]
		if err := knownName(name, secrets); err != nil {
			return nil, err
		}
		out = append(out, part{name: name, asText: m[4] >= 0})
	}
	if last < len(s) {
		out = append(out, part{lit: s[last:]})
	}
	for _, p := range out {
		if p.name == "" && strings.ContainsAny(p.lit, "{}") {
			return nil, fmt.Errorf("%q: a '{' or '}' that is not a placeholder such as {serial}", s)
		}
	}
	return out, nil
}

func knownName(name string, secrets map[string]string) error {
	if s, ok := strings.CutPrefix(name, secretPrefix); ok {
		if _, ok := secrets[s]; !ok {
			return fmt.Errorf("{%s}: no secret %q in secrets", name, s)
		}
		return nil
	}
	if slices.Contains(stringVars, name) || slices.Contains(numberVars, name) {
		return nil
	}
	return fmt.Errorf("{%s}: unknown placeholder; want one of %s, or secret.NAME", name, strings.Join(append(slices.Clone(stringVars), numberVars...), ", "))
}

// lookup returns the value of a placeholder.
func lookup(name string, vars map[string]string, secrets map[string]string) (string, error) {
	if s, ok := strings.CutPrefix(name, secretPrefix); ok {
		return secrets[s], nil
	}
	v, ok := vars[name]
	if !ok {
		return "", fmt.Errorf("no value for {%s} in the job", name)
	}
	return v, nil
}

// render writes t with each placeholder escaped by escape.
func (t text) render(vars, secrets map[string]string, escape func(string) string) (string, error) {
	var b strings.Builder
	for _, p := range t {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		v, err := lookup(p.name, vars, secrets)
		if err != nil {
			return "", err
		}
		b.WriteString(escape(v))
	}
	return b.String(), nil
}

// urlTemplate is a URL whose placeholders are path-escaped before the '?'
// and query-escaped after it.
type urlTemplate struct{ path, query text }

func parseURL(s string, secrets map[string]string) (urlTemplate, error) {
	p, q, _ := strings.Cut(s, "?")
	var u urlTemplate
	var err error
	if u.path, err = parseText(p, secrets); err != nil {
		return u, err
	}
	if q != "" {
		if u.query, err = parseText(q, secrets); err != nil {
			return u, err
		}
	}
	return u, nil
}

func (u urlTemplate) render(vars, secrets map[string]string) (string, error) {
	p, err := u.path.render(vars, secrets, url.PathEscape)
	if err != nil || u.query == nil {
		return p, err
	}
	q, err := u.query.render(vars, secrets, url.QueryEscape)
	return p + "?" + q, err
}

// body is a parsed body template: a tree of maps, lists, scalars and
// template strings.
type body struct{ tree any }

func parseBody(v any, secrets map[string]string) (body, error) {
	t, err := parseTree(v, secrets, "")
	return body{tree: t}, err
}

func parseTree(v any, secrets map[string]string, at string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			t, err := parseTree(e, secrets, at+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = t
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			t, err := parseTree(e, secrets, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	case string:
		t, err := parseText(x, secrets)
		if err != nil && at != "" {
			return nil, fmt.Errorf("%s: %w", strings.TrimPrefix(at, "."), err)
		}
		return t, err
	case nil, bool, int, int64, uint64, float64:
		return x, nil
	}
	return nil, fmt.Errorf("%s: unsupported value %T", strings.TrimPrefix(at, "."), v)
}

// render returns the body's value tree: a whole-leaf number placeholder
// is a JSON number, any other template string a string.
func (b body) render(vars, secrets map[string]string) (any, error) {
	return renderTree(b.tree, vars, secrets)
}

func renderTree(v any, vars, secrets map[string]string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := renderTree(e, vars, secrets)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderTree(e, vars, secrets)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case text:
		if p, ok := x.whole(); ok && !p.asText && slices.Contains(numberVars, p.name) {
			s, err := lookup(p.name, vars, secrets)
			if err != nil {
				return nil, err
			}
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("{%s} = %q is not a number", p.name, s)
			}
			return json.Number(s), nil
		}
		return x.render(vars, secrets, func(s string) string { return s })
	}
	return v, nil
}

// encodeJSON renders a body as JSON.
func encodeJSON(v any) ([]byte, error) { return json.Marshal(v) }

// encodeForm renders a flat body as application/x-www-form-urlencoded.
func encodeForm(v any) ([]byte, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("a form body must be a mapping")
	}
	form := url.Values{}
	for k, e := range m {
		switch x := e.(type) {
		case nil:
			form.Set(k, "")
		case string:
			form.Set(k, x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			form.Set(k, string(b))
		}
	}
	return []byte(form.Encode()), nil
}

// jsonPath is a parsed path such as $.a.b[0].c.
type jsonPath []any // string keys and int indexes

var pathStep = regexp.MustCompile(`^(?:\.([A-Za-z0-9_-]+)|\[(\d+)\])`)

func parsePath(s string) (jsonPath, error) {
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return nil, fmt.Errorf("%q: a JSON path starts with $, e.g. $.token or $[0].Token", s)
	}
	var p jsonPath
	for rest != "" {
		m := pathStep.FindStringSubmatch(rest)
		if m == nil {
			return nil, fmt.Errorf("%q: cannot read %q; want .name or [index] steps", s, rest)
		}
		if m[1] != "" {
			p = append(p, m[1])
		} else {
			n, err := strconv.Atoi(m[2])
			if err != nil {
				return nil, fmt.Errorf("%q: index %q: %w", s, m[2], err)
			}
			p = append(p, n)
		}
		rest = rest[len(m[0]):]
	}
	return p, nil
}

// get returns the value at p in doc (decoded with UseNumber), and whether
// there is one (a JSON null counts as none).
func (p jsonPath) get(doc any) (any, bool) {
	v := doc
	for _, step := range p {
		switch s := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s]; !ok {
				return nil, false
			}
		case int:
			l, ok := v.([]any)
			if !ok || s >= len(l) {
				return nil, false
			}
			v = l[s]
		}
	}
	return v, v != nil
}

// getText returns the value at p as text: a string as is, anything else
// as its JSON.
func (p jsonPath) getText(doc any) (string, bool) {
	v, ok := p.get(doc)
	if !ok {
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}
