package openapi_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/payg-gateway/gateway/openapi"
)

// eventTypes reads the event type constants (Event… = "x.y") of
// core/payg from its source, so a type added there without an entry in
// the catalogue fails this test.
func eventTypes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../core/payg/types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Event") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
	}
	if len(out) < 9 {
		t.Fatalf("found %d event type constants in core/payg/types.go (%v): the parse is broken", len(out), out)
	}
	slices.Sort(out)
	return out
}

// TestWebhookCatalogueCoversEveryEventType: the document's webhooks
// section has exactly one entry per event type core/payg emits, and each
// entry's example is an envelope of its own type.
func TestWebhookCatalogueCoversEveryEventType(t *testing.T) {
	spec, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := eventTypes(t)
	var got []string
	for _, op := range spec.Webhooks() {
		got = append(got, op.Path)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("webhooks in the document %v, want the event types of core/payg %v", got, want)
	}
	var doc struct {
		Webhooks map[string]struct {
			Post struct {
				RequestBody struct {
					Content map[string]struct {
						Example any `json:"example"`
					} `json:"content"`
				} `json:"requestBody"`
			} `json:"post"`
		} `json:"webhooks"`
	}
	js, err := yaml.YAMLToJSON(openapi.Document())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	for _, typ := range want {
		op := spec.Webhook(typ)
		ex, err := json.Marshal(doc.Webhooks[typ].Post.RequestBody.Content[openapi.JSONMediaType].Example)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(ex, &env); err != nil || env.Type != typ {
			t.Errorf("webhook %s: example of type %q (%v)", typ, env.Type, err)
		}
		if fields, err := op.ValidateBody(openapi.JSONMediaType, ex); err != nil || len(fields) > 0 {
			t.Errorf("webhook %s: example does not match its schema: %v %v", typ, fields, err)
		}
		// The envelope of one type is not accepted as another's.
		other := strings.Replace(string(ex), `"type":"`+typ+`"`, `"type":"payment.other"`, 1)
		if fields, _ := op.ValidateBody(openapi.JSONMediaType, []byte(other)); len(fields) == 0 {
			t.Errorf("webhook %s: an envelope of another type passes its schema", typ)
		}
		for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			if p := op.Param("header", h); p == nil || !p.Required {
				t.Errorf("webhook %s: does not document the required %s header", typ, h)
			}
		}
	}
}
