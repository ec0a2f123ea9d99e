package openapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func load(t *testing.T) *Spec {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExamplesMatchTheirSchemas checks every example in the document with
// this package's own compiler, independently of kin-openapi's check in
// openapi_test.go: an example beside a schema (media type, parameter) is
// checked against it, an example inside a schema against that schema.
func TestExamplesMatchTheirSchemas(t *testing.T) {
	s := load(t)
	js, err := json.Marshal(s.tree)
	if err != nil {
		t.Fatal(err)
	}
	compiler, err := newCompiler(js)
	if err != nil {
		t.Fatal(err)
	}
	var c int
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch x := v.(type) {
		case map[string]any:
			if ex, ok := x["example"]; ok {
				target := ptr
				if _, ok := x["schema"]; ok {
					target = ptr + "/schema"
				}
				sch, err := compiler.Compile(docURL + "#" + target)
				if err != nil {
					t.Fatalf("compile %s: %v", target, err)
				}
				if err := sch.Validate(ex); err != nil {
					t.Errorf("example at %s does not match its schema: %v", ptr, fieldErrors(err))
				}
				c++
			}
			for _, k := range sortedKeys(x) {
				if k != "example" {
					walk(x[k], ptr+"/"+escape(k))
				}
			}
		case []any:
			for i, e := range x {
				walk(e, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(s.tree, "")
	if c < 10 {
		t.Fatalf("checked only %d examples: the walk is broken", c)
	}
}

// TestRequestBodiesRejectUnknownFields enforces the document's convention:
// every object in a request body schema says additionalProperties: false.
func TestRequestBodiesRejectUnknownFields(t *testing.T) {
	s := load(t)
	b := builder{spec: s}
	for _, op := range s.Operations() {
		rb, ok := op.node["requestBody"].(map[string]any)
		if !ok {
			continue
		}
		rbn, _, err := b.resolve(rb, "")
		if err != nil {
			t.Fatal(err)
		}
		schema := rbn["content"].(map[string]any)[JSONMediaType].(map[string]any)["schema"]
		var check func(v any, where string)
		check = func(v any, where string) {
			m, ok := v.(map[string]any)
			if !ok {
				return
			}
			m, _, err := b.resolve(m, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, isObject := m["properties"]; isObject || m["type"] == "object" {
				if m["additionalProperties"] != false {
					t.Errorf("%s %s: object at %s lacks additionalProperties: false", op.Method, op.Path, where)
				}
			}
			for _, k := range []string{"allOf", "anyOf", "oneOf"} {
				if _, ok := m[k]; ok {
					t.Errorf("%s %s: %s at %s: request bodies use plain objects, so unknown fields can be refused", op.Method, op.Path, k, where)
				}
			}
			props, _ := m["properties"].(map[string]any)
			for _, name := range sortedKeys(props) {
				check(props[name], where+"/"+name)
			}
			check(m["items"], where+"/items")
		}
		check(schema, "")
	}
}

// TestV1Conventions: every /v1 operation documents its security role and
// the common error answers; every POST takes an Idempotency-Key; every list
// takes limit and cursor.
func TestV1Conventions(t *testing.T) {
	s := load(t)
	n := 0
	for _, op := range s.Operations() {
		if !strings.HasPrefix(op.Path, "/v1/") {
			continue
		}
		n++
		name := op.Method + " " + op.Path
		if !op.Secured || len(op.Roles) != 1 {
			t.Errorf("%s: want security [{apiKey: [ROLE]}], got roles %v", name, op.Roles)
		}
		if op.ID == "" || op.Summary == "" || len(op.Tags) == 0 {
			t.Errorf("%s: needs an operationId, a summary and a tag", name)
		}
		for _, code := range []string{"401", "403", "429", "default"} {
			if _, ok := op.responses[code]; !ok {
				t.Errorf("%s: does not document %s", name, code)
			}
		}
		if op.Method == http.MethodPost && op.Param("header", "Idempotency-Key") == nil {
			t.Errorf("%s: a POST must take the Idempotency-Key header", name)
		}
		if (op.Param("query", "limit") == nil) != (op.Param("query", "cursor") == nil) {
			t.Errorf("%s: a list takes both limit and cursor", name)
		}
	}
	if n == 0 {
		t.Fatal("no /v1 operations")
	}
}

func TestValidateParams(t *testing.T) {
	s := load(t)
	list := s.Operation("GET", "/v1/api-keys")
	cases := []struct {
		query string
		want  []FieldError
	}{
		{"", nil},
		{"limit=10&cursor=abc&unknown=1", nil},
		{"limit=0", []FieldError{{"limit", "must be >= 1 but found 0"}}},
		{"limit=1.5", []FieldError{{"limit", "want an integer"}}},
		{"limit=x", []FieldError{{"limit", "want an integer"}}},
		{"cursor=", []FieldError{{"cursor", "length must be >= 1, but got 0"}}},
	}
	for _, tc := range cases {
		q, _ := url.ParseQuery(tc.query)
		got := list.ValidateParams(nil, q, http.Header{})
		if !slices.Equal(got, tc.want) {
			t.Errorf("?%s: %+v, want %+v", tc.query, got, tc.want)
		}
	}
	create := s.Operation("POST", "/v1/api-keys")
	h := http.Header{}
	h.Set("idempotency-key", "has space")
	if got := create.ValidateParams(nil, nil, h); len(got) != 1 || got[0].Pointer != "Idempotency-Key" {
		t.Errorf("bad header: %+v", got)
	}
	revoke := s.Operation("DELETE", "/v1/api-keys/{id}")
	if got := revoke.ValidateParams(map[string]string{}, nil, nil); len(got) != 1 || got[0].Pointer != "id" {
		t.Errorf("missing path parameter: %+v", got)
	}
}

func TestValidateBody(t *testing.T) {
	op := load(t).Operation("POST", "/v1/api-keys")
	if _, err := op.ValidateBody("text/plain", []byte(`{}`)); err != ErrUnsupportedMediaType {
		t.Errorf("text/plain: %v", err)
	}
	if _, err := op.ValidateBody("application/json; charset=utf-8", []byte(`{"name":`)); err == nil || !strings.Contains(err.Error(), ErrMalformedJSON.Error()) {
		t.Errorf("malformed: %v", err)
	}
	fields, err := op.ValidateBody("application/json; charset=utf-8", []byte(`{"name":"a","scope":"read"}`))
	if err != nil || fields != nil {
		t.Errorf("valid body: %v %v", fields, err)
	}
	fields, _ = op.ValidateBody(JSONMediaType, []byte(`{"scope":"read","a/b~c":1}`))
	want := []FieldError{{"/a~1b~0c", "unknown field"}, {"/name", "required"}}
	if !slices.Equal(fields, want) {
		t.Errorf("pointers %+v, want %+v (escaped per RFC 6901)", fields, want)
	}
}

func TestMatch(t *testing.T) {
	s := load(t)
	op, params := s.Match("DELETE", "/v1/api-keys/key_a%2Fb")
	if op == nil || op.ID != "revokeApiKey" || params["id"] != "key_a/b" {
		t.Fatalf("Match = %v %v", op, params)
	}
	if op, _ := s.Match("GET", "/v1/api-keys"); op == nil || op.ID != "listApiKeys" {
		t.Errorf("literal path: %v", op)
	}
	for _, miss := range [][2]string{{"GET", "/v1/api-keys/x"}, {"DELETE", "/v1/api-keys/"}, {"GET", "/nope"}} {
		if op, _ := s.Match(miss[0], miss[1]); op != nil {
			t.Errorf("Match(%s %s) = %s, want none", miss[0], miss[1], op.ID)
		}
	}
}

func TestValidateResponse(t *testing.T) {
	op := load(t).Operation("GET", "/v1/tenant")
	good := `{"id":"default","name":"Default","time_zone":"UTC","default_country":null,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`
	if err := op.ValidateResponse(200, "application/json; charset=utf-8", []byte(good)); err != nil {
		t.Errorf("good answer: %v", err)
	}
	problem := `{"type":"urn:payg-gateway:problem:unavailable","title":"x","status":503}`
	if err := op.ValidateResponse(503, "application/problem+json", []byte(problem)); err != nil {
		t.Errorf("default answer: %v", err)
	}
	for name, tc := range map[string]struct {
		status int
		ct     string
		body   string
	}{
		"wrong field type": {200, JSONMediaType, strings.Replace(good, `"UTC"`, `7`, 1)},
		"not a timestamp":  {200, JSONMediaType, strings.Replace(good, `"2026-01-01T00:00:00Z"`, `"yesterday"`, 1)},
		"missing field":    {200, JSONMediaType, `{"id":"default"}`},
		"wrong media type": {200, "text/html", good},
		"not JSON":         {200, JSONMediaType, `{`},
		"problem shape":    {401, "application/problem+json", `{"status":"401"}`},
	} {
		if err := op.ValidateResponse(tc.status, tc.ct, []byte(tc.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseRejects(t *testing.T) {
	base := "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n"
	for name, doc := range map[string]string{
		"OpenAPI 3.0":       strings.Replace(base, "3.1.0", "3.0.3", 1),
		"external $ref":     base + "  /x:\n    get:\n      responses:\n        '200':\n          description: d\n          content:\n            application/json:\n              schema: {$ref: 'other.yaml#/S'}\n",
		"missing $ref":      base + "  /x:\n    get:\n      responses:\n        '200': {$ref: '#/components/responses/Nope'}\n",
		"no responses":      base + "  /x:\n    get: {summary: s}\n",
		"form request body": base + "  /x:\n    post:\n      requestBody:\n        content:\n          application/x-www-form-urlencoded:\n            schema: {type: object}\n      responses:\n        '200': {description: d}\n",
		"bad schema":        base + "  /x:\n    get:\n      responses:\n        '200':\n          description: d\n          content:\n            application/json:\n              schema: {type: 7}\n",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse succeeded", name)
		}
	}
}

func TestHTMLEscapesAndLinks(t *testing.T) {
	doc := `openapi: 3.1.0
info: {title: "T <b>", version: "1", description: "Use ` + "`<script>`" + ` **never**."}
tags: [{name: things}]
paths:
  /things:
    get:
      operationId: listThings
      tags: [things]
      summary: "List <things>"
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
              example: {name: "<img src=x>"}
components:
  schemas:
    Thing: {type: object, properties: {name: {type: string}}}
`
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.HTML()
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, bad := range []string{"<script>", "<img", "<b>", "<things>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{
		`<code>&lt;script&gt;</code>`, `<strong>never</strong>`,
		`id="op-listThings"`, `href="#schema-Thing"`, `id="schema-Thing"`, `id="tag-things"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
