package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v5"
)

// docURL names the document inside the schema compiler; nothing is ever
// loaded from it (or from anywhere else).
const docURL = "mem://gateway.json"

// JSONMediaType is the media type of request and response bodies.
const JSONMediaType = "application/json"

// methods are the OpenAPI operation keys, in the order they are listed.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Spec is a compiled OpenAPI document: its operations, with the request
// parameter, request body and response schemas compiled for validation.
// It is immutable and safe for concurrent use.
type Spec struct {
	yaml []byte
	tree map[string]any // the document as JSON values (json.Number numbers)
	ops  []*Operation
	byID map[string]*Operation // "GET /v1/api-keys/{id}"
	// hooks are the document's webhooks (OpenAPI 3.1): the requests the
	// gateway sends, by name (the event type).
	hooks []*Operation
	// html renders the reference page once (see HTML).
	html func() ([]byte, error)
}

// Operation is one method on one path of the document.
type Operation struct {
	Method      string // upper case: GET, POST, …
	Path        string // the path template, e.g. /v1/api-keys/{id}
	ID          string // operationId
	Summary     string
	Description string
	Tags        []string
	// Roles are the role names of the operation's first security
	// requirement (OpenAPI 3.1 allows roles for any scheme type); nil for
	// an operation without security. The gateway reads the API key scope
	// an operation needs from here.
	Roles []string
	// Secured reports whether the operation declares a security requirement.
	Secured bool

	Params       []*Parameter
	body         *jsonschema.Schema
	bodyRequired bool
	responses    map[string]map[string]*jsonschema.Schema // status ("200", "4XX", "default") → media type → schema (nil: none)

	node    map[string]any // the operation object
	pointer string         // its JSON pointer in the document
}

// Parameter is a path, query or header parameter of an operation.
type Parameter struct {
	Name        string
	In          string // path, query or header
	Required    bool
	Description string
	kind        string // the schema's JSON type, for converting the text of the value
	schema      *jsonschema.Schema
	node        map[string]any
}

// FieldError is one invalid part of a request: Pointer is a JSON Pointer
// (RFC 6901) into the body, or the name of a parameter.
type FieldError struct {
	Pointer string
	Detail  string
}

// Errors of ValidateBody that are not about the body's content.
var (
	ErrMalformedJSON        = errors.New("malformed JSON")
	ErrUnsupportedMediaType = errors.New("unsupported media type")
)

// Load returns the embedded document, compiled. It is compiled once per
// process (a second or so under the race detector) and the immutable Spec
// shared: every gateway server, and every test client, of a process uses
// the same one.
func Load() (*Spec, error) { return loadEmbedded() }

// loadEmbedded compiles the embedded document on first use. The document
// is a constant and a Spec is immutable, so sharing it is not shared state.
var loadEmbedded = sync.OnceValues(func() (*Spec, error) { return Parse(document) })

// Parse compiles an OpenAPI 3.1 document given as YAML (or JSON). Every
// request and response schema is compiled as JSON Schema 2020-12, with
// $refs into the document resolved and formats asserted.
func Parse(doc []byte) (*Spec, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: read YAML: %w", err)
	}
	var tree map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("openapi: read document: %w", err)
	}
	if v, _ := tree["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("openapi: document version %q, want 3.1.x", v)
	}
	c, err := newCompiler(js)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	s := &Spec{yaml: bytes.Clone(doc), tree: tree, byID: make(map[string]*Operation)}
	s.html = sync.OnceValues(s.renderHTML)
	b := builder{spec: s, compiler: c}
	paths, _ := tree["paths"].(map[string]any)
	for _, path := range sortedKeys(paths) {
		item, _ := paths[path].(map[string]any)
		for _, m := range methods {
			node, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			ptr := "/paths/" + escape(path) + "/" + m
			op, err := b.operation(strings.ToUpper(m), path, item, node, ptr)
			if err != nil {
				return nil, fmt.Errorf("openapi: %s %s: %w", strings.ToUpper(m), path, err)
			}
			s.ops = append(s.ops, op)
			s.byID[op.Method+" "+op.Path] = op
		}
	}
	webhooks, _ := tree["webhooks"].(map[string]any)
	for _, name := range sortedKeys(webhooks) {
		item, _ := webhooks[name].(map[string]any)
		node, ok := item["post"].(map[string]any)
		if !ok || len(item) != 1 {
			return nil, fmt.Errorf("openapi: webhook %s: want exactly one operation, post", name)
		}
		op, err := b.operation(http.MethodPost, name, item, node, "/webhooks/"+escape(name)+"/post")
		if err != nil {
			return nil, fmt.Errorf("openapi: webhook %s: %w", name, err)
		}
		if op.body == nil {
			return nil, fmt.Errorf("openapi: webhook %s: no request body", name)
		}
		s.hooks = append(s.hooks, op)
	}
	return s, nil
}

// newCompiler returns a JSON Schema 2020-12 compiler holding the document
// (as JSON) at docURL. It asserts formats (date-time, uri, …) and loads
// nothing from outside.
func newCompiler(doc []byte) (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("external reference %s: only references into the document itself are allowed", u)
	}
	if err := c.AddResource(docURL, bytes.NewReader(doc)); err != nil {
		return nil, err
	}
	return c, nil
}

// YAML returns the document as it was given.
func (s *Spec) YAML() []byte { return bytes.Clone(s.yaml) }

// Operations returns every operation, ordered by path, then method in
// the document's order.
func (s *Spec) Operations() []*Operation { return slices.Clone(s.ops) }

// Webhooks returns the document's webhooks, ordered by name: the requests
// the gateway sends to CRM endpoints, one per event type. Each is a POST
// whose Path is the webhook's name (the event type); ValidateBody checks
// a delivery's body and ValidateParams its signature headers.
func (s *Spec) Webhooks() []*Operation { return slices.Clone(s.hooks) }

// Webhook returns the webhook named name (an event type), or nil.
func (s *Spec) Webhook(name string) *Operation {
	for _, op := range s.hooks {
		if op.Path == name {
			return op
		}
	}
	return nil
}

// Operation returns the operation for method and path template, or nil.
func (s *Spec) Operation(method, pathTemplate string) *Operation {
	return s.byID[strings.ToUpper(method)+" "+pathTemplate]
}

// Match finds the operation serving a concrete request path, such as
// /v1/api-keys/key_abc, and returns it with the path parameters. A literal
// segment wins over a template segment.
func (s *Spec) Match(method, path string) (*Operation, map[string]string) {
	segs := strings.Split(path, "/")
	var best *Operation
	var bestParams map[string]string
	bestLiterals := -1
	for _, op := range s.ops {
		if op.Method != strings.ToUpper(method) {
			continue
		}
		tsegs := strings.Split(op.Path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params, literals, ok := map[string]string{}, 0, true
		for i, t := range tsegs {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				if segs[i] == "" {
					ok = false
					break
				}
				v, err := url.PathUnescape(segs[i])
				if err != nil {
					ok = false
					break
				}
				params[t[1:len(t)-1]] = v
				continue
			}
			if t != segs[i] {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals {
			best, bestParams, bestLiterals = op, params, literals
		}
	}
	return best, bestParams
}

// HasJSONBody reports whether the operation takes a JSON request body.
func (o *Operation) HasJSONBody() bool { return o.body != nil }

// Param returns the named parameter in the given location, or nil.
func (o *Operation) Param(in, name string) *Parameter {
	for _, p := range o.Params {
		if p.In == in && (p.Name == name || in == "header" && strings.EqualFold(p.Name, name)) {
			return p
		}
	}
	return nil
}

// ValidateParams checks the path, query and header parameters. Unknown
// query parameters are ignored.
func (o *Operation) ValidateParams(path map[string]string, query url.Values, header http.Header) []FieldError {
	var out []FieldError
	for _, p := range o.Params {
		var raw string
		var present bool
		switch p.In {
		case "path":
			raw, present = path[p.Name]
		case "query":
			if vs, ok := query[p.Name]; ok && len(vs) > 0 {
				raw, present = vs[0], true
				if len(vs) > 1 {
					out = append(out, FieldError{Pointer: p.Name, Detail: "given more than once"})
					continue
				}
			}
		case "header":
			if vs := header.Values(p.Name); len(vs) > 0 {
				raw, present = vs[0], true
			}
		default: // cookie parameters are not used by this API
			continue
		}
		if !present {
			if p.Required {
				out = append(out, FieldError{Pointer: p.Name, Detail: "required " + p.In + " parameter is missing"})
			}
			continue
		}
		v, ok := p.convert(raw)
		if !ok {
			out = append(out, FieldError{Pointer: p.Name, Detail: fmt.Sprintf("want %s %s", article(p.kind), p.kind)})
			continue
		}
		if err := p.schema.Validate(v); err != nil {
			for _, fe := range fieldErrors(err) {
				out = append(out, FieldError{Pointer: p.Name + fe.Pointer, Detail: fe.Detail})
			}
		}
	}
	return out
}

// convert reads a parameter's text as its schema's JSON type.
func (p *Parameter) convert(raw string) (any, bool) {
	switch p.kind {
	case "integer":
		if _, err := strconv.ParseInt(raw, 10, 64); err != nil {
			return nil, false
		}
		return json.Number(raw), true
	case "number":
		if _, err := strconv.ParseFloat(raw, 64); err != nil {
			return nil, false
		}
		return json.Number(raw), true
	case "boolean":
		b, err := strconv.ParseBool(raw)
		if err != nil || (raw != "true" && raw != "false") {
			return nil, false
		}
		return b, true
	}
	return raw, true
}

// ValidateBody checks a request body. The error is ErrUnsupportedMediaType
// when the body is not declared as JSON, or wraps ErrMalformedJSON when it
// does not parse; otherwise the field errors list what the schema rejects.
// An operation without a body schema accepts only an empty body.
func (o *Operation) ValidateBody(contentType string, body []byte) ([]FieldError, error) {
	if o.body == nil {
		if len(bytes.TrimSpace(body)) > 0 {
			return []FieldError{{Pointer: "", Detail: "this operation takes no request body"}}, nil
		}
		return nil, nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if o.bodyRequired {
			return []FieldError{{Pointer: "", Detail: "a JSON request body is required"}}, nil
		}
		return nil, nil
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != JSONMediaType {
		return nil, ErrUnsupportedMediaType
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	if err := o.body.Validate(v); err != nil {
		return fieldErrors(err), nil
	}
	return nil, nil
}

// ValidateResponse checks an answer against the documented responses of
// the operation: the status must be documented (exactly, as a range such as
// 4XX, or by default), a body must have a documented media type, and a JSON
// body must match its schema.
func (o *Operation) ValidateResponse(status int, contentType string, body []byte) error {
	code := strconv.Itoa(status)
	content, ok := o.responses[code]
	if !ok {
		content, ok = o.responses[code[:1]+"XX"]
	}
	if !ok {
		content, ok = o.responses["default"]
	}
	if !ok {
		return fmt.Errorf("%s %s: status %d is not documented", o.Method, o.Path, status)
	}
	if len(content) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("%s %s: status %d is documented without a body, got %d bytes", o.Method, o.Path, status, len(body))
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("%s %s: status %d: bad Content-Type %q", o.Method, o.Path, status, contentType)
	}
	schema, ok := content[mt]
	if !ok {
		return fmt.Errorf("%s %s: status %d: Content-Type %q is not documented", o.Method, o.Path, status, mt)
	}
	if schema == nil || !isJSON(mt) {
		return nil
	}
	v, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("%s %s: status %d: %w", o.Method, o.Path, status, err)
	}
	if err := schema.Validate(v); err != nil {
		var msgs []string
		for _, fe := range fieldErrors(err) {
			msgs = append(msgs, fmt.Sprintf("%q: %s", fe.Pointer, fe.Detail))
		}
		return fmt.Errorf("%s %s: status %d: body does not match the schema: %s", o.Method, o.Path, status, strings.Join(msgs, "; "))
	}
	return nil
}

func isJSON(mediaType string) bool {
	return mediaType == JSONMediaType || strings.HasSuffix(mediaType, "+json")
}

// decodeJSON parses exactly one JSON value, keeping numbers exact.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrMalformedJSON)
	}
	return v, nil
}

// fieldErrors flattens a validation error into one FieldError per failed
// leaf. A missing required property and an unknown property each get the
// pointer of the property itself, not of the object holding it.
func fieldErrors(err error) []FieldError {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []FieldError{{Pointer: "", Detail: err.Error()}}
	}
	var out []FieldError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		keyword := e.KeywordLocation[strings.LastIndex(e.KeywordLocation, "/")+1:]
		switch {
		case keyword == "required" && strings.HasPrefix(e.Message, "missing properties: "):
			for _, name := range quotedNames(strings.TrimPrefix(e.Message, "missing properties: ")) {
				out = append(out, FieldError{Pointer: e.InstanceLocation + "/" + escape(name), Detail: "required"})
			}
		case keyword == "additionalProperties" && strings.HasPrefix(e.Message, "additionalProperties ") && strings.HasSuffix(e.Message, " not allowed"):
			list := strings.TrimSuffix(strings.TrimPrefix(e.Message, "additionalProperties "), " not allowed")
			for _, name := range quotedNames(list) {
				out = append(out, FieldError{Pointer: e.InstanceLocation + "/" + escape(name), Detail: "unknown field"})
			}
		default:
			out = append(out, FieldError{Pointer: e.InstanceLocation, Detail: e.Message})
		}
	}
	walk(ve)
	slices.SortStableFunc(out, func(a, b FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
	return out
}

// quotedNames splits the validator's list of 'quoted', 'names'.
func quotedNames(list string) []string {
	var names []string
	for part := range strings.SplitSeq(list, ", ") {
		names = append(names, strings.Trim(part, "'"))
	}
	return names
}

// escape encodes a JSON Pointer reference token (RFC 6901).
func escape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

func unescape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
}

func article(kind string) string {
	if kind == "integer" {
		return "an"
	}
	return "a"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// builder compiles the operations of one document.
type builder struct {
	spec     *Spec
	compiler *jsonschema.Compiler
}

// resolve follows a Reference Object ({$ref: "#/…"}) within the document and
// returns the object it names with its pointer.
func (b *builder) resolve(node map[string]any, ptr string) (map[string]any, string, error) {
	for range 10 { // references to references are allowed, loops are not
		ref, ok := node["$ref"].(string)
		if !ok {
			return node, ptr, nil
		}
		target, ok := strings.CutPrefix(ref, "#")
		if !ok {
			return nil, "", fmt.Errorf("reference %q: only references into the document itself are allowed", ref)
		}
		v, err := lookup(b.spec.tree, target)
		if err != nil {
			return nil, "", fmt.Errorf("reference %q: %w", ref, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("reference %q: not an object", ref)
		}
		node, ptr = m, target
	}
	return nil, "", fmt.Errorf("reference chain at %s is too long", ptr)
}

// lookup evaluates a JSON Pointer in the document.
func lookup(tree any, ptr string) (any, error) {
	if ptr == "" {
		return tree, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("bad JSON pointer %q", ptr)
	}
	cur := tree
	for tok := range strings.SplitSeq(ptr[1:], "/") {
		tok = unescape(tok)
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%q not found", ptr)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%q not found", ptr)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q not found", ptr)
		}
	}
	return cur, nil
}

func (b *builder) compile(ptr string) (*jsonschema.Schema, error) {
	s, err := b.compiler.Compile(docURL + "#" + ptr)
	if err != nil {
		return nil, fmt.Errorf("schema at %s: %w", ptr, err)
	}
	return s, nil
}

func (b *builder) operation(method, path string, item, node map[string]any, ptr string) (*Operation, error) {
	op := &Operation{Method: method, Path: path, node: node, pointer: ptr}
	op.ID, _ = node["operationId"].(string)
	op.Summary, _ = node["summary"].(string)
	op.Description, _ = node["description"].(string)
	for _, t := range asSlice(node["tags"]) {
		if s, ok := t.(string); ok {
			op.Tags = append(op.Tags, s)
		}
	}
	security, ok := node["security"]
	if !ok {
		security = b.spec.tree["security"]
	}
	if reqs := asSlice(security); len(reqs) > 0 {
		op.Secured = true
		if req, ok := reqs[0].(map[string]any); ok {
			for _, scheme := range sortedKeys(req) {
				for _, r := range asSlice(req[scheme]) {
					if s, ok := r.(string); ok {
						op.Roles = append(op.Roles, s)
					}
				}
			}
		}
	}

	// Path-level parameters apply unless the operation overrides them.
	itemPtr := ptr[:strings.LastIndex(ptr, "/")]
	type located struct {
		node map[string]any
		ptr  string
	}
	var params []located
	for i, p := range asSlice(item["parameters"]) {
		if m, ok := p.(map[string]any); ok {
			params = append(params, located{m, fmt.Sprintf("%s/parameters/%d", itemPtr, i)})
		}
	}
	for i, p := range asSlice(node["parameters"]) {
		if m, ok := p.(map[string]any); ok {
			params = append(params, located{m, fmt.Sprintf("%s/parameters/%d", ptr, i)})
		}
	}
	byKey := map[string]int{}
	for _, l := range params {
		pn, pptr, err := b.resolve(l.node, l.ptr)
		if err != nil {
			return nil, err
		}
		p := &Parameter{node: pn}
		p.Name, _ = pn["name"].(string)
		p.In, _ = pn["in"].(string)
		p.Required, _ = pn["required"].(bool)
		p.Description, _ = pn["description"].(string)
		sn, ok := pn["schema"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("parameter %s: no schema", p.Name)
		}
		rs, _, err := b.resolve(sn, pptr+"/schema")
		if err != nil {
			return nil, err
		}
		p.kind = schemaKind(rs)
		if p.schema, err = b.compile(pptr + "/schema"); err != nil {
			return nil, err
		}
		key := p.In + " " + p.Name
		if p.In == "header" {
			key = p.In + " " + strings.ToLower(p.Name)
		}
		if i, ok := byKey[key]; ok {
			op.Params[i] = p
			continue
		}
		byKey[key] = len(op.Params)
		op.Params = append(op.Params, p)
	}

	if rb, ok := node["requestBody"].(map[string]any); ok {
		rbn, rbptr, err := b.resolve(rb, ptr+"/requestBody")
		if err != nil {
			return nil, err
		}
		op.bodyRequired, _ = rbn["required"].(bool)
		content, _ := rbn["content"].(map[string]any)
		jsonContent, _ := content[JSONMediaType].(map[string]any)
		if _, ok := jsonContent["schema"]; !ok || len(content) != 1 {
			return nil, fmt.Errorf("request body: want exactly one media type, %s, with a schema", JSONMediaType)
		}
		if op.body, err = b.compile(rbptr + "/content/" + escape(JSONMediaType) + "/schema"); err != nil {
			return nil, err
		}
	}

	op.responses = map[string]map[string]*jsonschema.Schema{}
	responses, _ := node["responses"].(map[string]any)
	for _, code := range sortedKeys(responses) {
		rn, _ := responses[code].(map[string]any)
		rn, rptr, err := b.resolve(rn, ptr+"/responses/"+escape(code))
		if err != nil {
			return nil, err
		}
		media := map[string]*jsonschema.Schema{}
		content, _ := rn["content"].(map[string]any)
		for _, mt := range sortedKeys(content) {
			mn, _ := content[mt].(map[string]any)
			if _, ok := mn["schema"]; !ok {
				media[mt] = nil
				continue
			}
			if media[mt], err = b.compile(rptr + "/content/" + escape(mt) + "/schema"); err != nil {
				return nil, err
			}
		}
		op.responses[code] = media
	}
	if len(op.responses) == 0 {
		return nil, errors.New("no responses documented")
	}
	return op, nil
}

// schemaKind is the JSON type a parameter's text is read as: the schema's
// first non-null type, "string" if it names none.
func schemaKind(schema map[string]any) string {
	switch t := schema["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	return "string"
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
