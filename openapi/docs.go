package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"regexp"
	"slices"
	"strings"
)

// HTML renders the document as one self-contained reference page:
// operations grouped by tag with their parameters, request and response
// schemas and examples, then the component schemas. It loads nothing (no
// scripts, fonts or stylesheets from elsewhere), so it works on a gateway
// without Internet access. The page is rendered once per Spec; each call
// returns a copy.
func (s *Spec) HTML() ([]byte, error) {
	page, err := s.html()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(page), nil
}

// renderHTML renders the page HTML returns.
func (s *Spec) renderHTML() ([]byte, error) {
	info, _ := s.tree["info"].(map[string]any)
	page := docPage{
		Title:       str(info["title"]),
		Version:     str(info["version"]),
		Summary:     str(info["summary"]),
		Description: markdown(str(info["description"])),
	}
	// Tags in the document's order, then any an operation names only.
	var order []string
	descr := map[string]string{}
	for _, t := range asSlice(s.tree["tags"]) {
		if m, ok := t.(map[string]any); ok {
			order = append(order, str(m["name"]))
			descr[str(m["name"])] = str(m["description"])
		}
	}
	groups := map[string][]docOperation{}
	for _, op := range s.ops {
		tags := op.Tags
		if len(tags) == 0 {
			tags = []string{"other"}
		}
		for _, t := range tags {
			if !slices.Contains(order, t) {
				order = append(order, t)
			}
			groups[t] = append(groups[t], s.docOperation(op))
		}
	}
	for _, t := range order {
		if len(groups[t]) > 0 {
			page.Tags = append(page.Tags, docTag{Name: t, Description: markdown(descr[t]), Operations: groups[t]})
		}
	}
	for _, op := range s.hooks {
		page.Webhooks = append(page.Webhooks, s.docOperation(op))
	}
	components, _ := s.tree["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	for _, name := range sortedKeys(schemas) {
		page.Schemas = append(page.Schemas, docSchema{Name: name, Anchor: schemaAnchor(name), JSON: jsonHTML(schemas[name])})
	}
	var buf bytes.Buffer
	if err := docTemplate.Execute(&buf, page); err != nil {
		return nil, fmt.Errorf("openapi: render reference page: %w", err)
	}
	return buf.Bytes(), nil
}

type docPage struct {
	Title, Version, Summary string
	Description             template.HTML
	Tags                    []docTag
	// Webhooks are the requests the gateway sends to CRM endpoints.
	Webhooks []docOperation
	Schemas  []docSchema
}

type docTag struct {
	Name        string
	Description template.HTML
	Operations  []docOperation
}

type docOperation struct {
	Anchor, Method, Path, ID, Summary string
	Description                       template.HTML
	Scope                             string
	Params                            []docParam
	Body                              *docContent
	Responses                         []docResponse
}

type docParam struct {
	Name, In    string
	Required    bool
	Description template.HTML
	Schema      template.HTML
}

type docContent struct {
	MediaType string
	Required  bool // of a request body
	Schema    template.HTML
	Example   template.HTML
}

type docResponse struct {
	Status      string
	Description template.HTML
	Headers     []string
	Content     []docContent
}

type docSchema struct {
	Name, Anchor string
	JSON         template.HTML
}

func (s *Spec) docOperation(op *Operation) docOperation {
	d := docOperation{
		Anchor:      "op-" + op.ID,
		Method:      op.Method,
		Path:        op.Path,
		ID:          op.ID,
		Summary:     op.Summary,
		Description: markdown(op.Description),
		Scope:       strings.Join(op.Roles, ", "),
	}
	for _, p := range op.Params {
		d.Params = append(d.Params, docParam{
			Name: p.Name, In: p.In, Required: p.Required,
			Description: markdown(p.Description), Schema: jsonHTML(p.node["schema"]),
		})
	}
	if rb, ok := op.node["requestBody"].(map[string]any); ok {
		b := builder{spec: s}
		if rbn, _, err := b.resolve(rb, ""); err == nil {
			content, _ := rbn["content"].(map[string]any)
			for _, mt := range sortedKeys(content) {
				c := docMedia(mt, content[mt])
				c.Required, _ = rbn["required"].(bool)
				d.Body = &c
				break
			}
		}
	}
	responses, _ := op.node["responses"].(map[string]any)
	for _, code := range sortedKeys(responses) {
		b := builder{spec: s}
		rn, _ := responses[code].(map[string]any)
		rn, _, err := b.resolve(rn, "")
		if err != nil {
			continue
		}
		r := docResponse{Status: code, Description: markdown(str(rn["description"]))}
		headers, _ := rn["headers"].(map[string]any)
		r.Headers = sortedKeys(headers)
		content, _ := rn["content"].(map[string]any)
		for _, mt := range sortedKeys(content) {
			r.Content = append(r.Content, docMedia(mt, content[mt]))
		}
		d.Responses = append(d.Responses, r)
	}
	return d
}

func docMedia(mediaType string, node any) docContent {
	m, _ := node.(map[string]any)
	c := docContent{MediaType: mediaType}
	if schema, ok := m["schema"]; ok {
		c.Schema = jsonHTML(schema)
	}
	if ex, ok := m["example"]; ok {
		c.Example = exampleHTML(ex)
	}
	return c
}

func schemaAnchor(name string) string { return "schema-" + name }

// keyOrder puts the telling keywords of a schema first.
var keyOrder = []string{"$ref", "type", "description", "enum", "const", "format", "pattern",
	"minimum", "maximum", "minLength", "maxLength", "default", "required", "additionalProperties",
	"properties", "items", "allOf", "oneOf", "anyOf"}

// jsonHTML renders a schema as indented, escaped JSON, its telling
// keywords first and references to component schemas as links.
func jsonHTML(v any) template.HTML {
	var b strings.Builder
	writeJSONHTML(&b, v, "", keyRank)
	return template.HTML(b.String()) // every string is escaped by writeJSONHTML
}

// exampleHTML renders an example as indented, escaped JSON, keys sorted.
func exampleHTML(v any) template.HTML {
	var b strings.Builder
	writeJSONHTML(&b, v, "", func(string) int { return 0 })
	return template.HTML(b.String()) // every string is escaped by writeJSONHTML
}

func writeJSONHTML(b *strings.Builder, v any, indent string, rank func(string) int) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return
		}
		keys := sortedKeys(x)
		slices.SortStableFunc(keys, func(a, c string) int { return rank(a) - rank(c) })
		b.WriteString("{\n")
		for i, k := range keys {
			b.WriteString(indent + "  " + html.EscapeString(quoteJSON(k)) + ": ")
			if ref, ok := x[k].(string); ok && k == "$ref" && strings.HasPrefix(ref, "#/components/schemas/") {
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				fmt.Fprintf(b, `<a href="#%s">%s</a>`, html.EscapeString(schemaAnchor(name)), html.EscapeString(quoteJSON(ref)))
			} else {
				writeJSONHTML(b, x[k], indent+"  ", rank)
			}
			if i < len(keys)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(indent + "}")
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, e := range x {
			b.WriteString(indent + "  ")
			writeJSONHTML(b, e, indent+"  ", rank)
			if i < len(x)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(indent + "]")
	case string:
		b.WriteString(html.EscapeString(quoteJSON(x)))
	case nil:
		b.WriteString("null")
	default: // json.Number, bool
		b.WriteString(html.EscapeString(fmt.Sprint(x)))
	}
}

func keyRank(k string) int {
	if i := slices.Index(keyOrder, k); i >= 0 {
		return i
	}
	return len(keyOrder)
}

// quoteJSON quotes s as a JSON string, leaving HTML escaping to the caller.
func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	strong   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// markdown renders the little Markdown the document uses: paragraphs,
// "- " lists, `code` and **strong**. Everything else is plain, escaped text.
func markdown(src string) template.HTML {
	var b strings.Builder
	inline := func(s string) string {
		s = html.EscapeString(s)
		s = codeSpan.ReplaceAllString(s, "<code>$1</code>")
		return strong.ReplaceAllString(s, "<strong>$1</strong>")
	}
	for block := range strings.SplitSeq(strings.TrimSpace(src), "\n\n") {
		block = strings.TrimSpace(block)
		if block == "" {
			continue
		}
		if !strings.HasPrefix(block, "- ") {
			b.WriteString("<p>" + inline(strings.Join(strings.Fields(block), " ")) + "</p>\n")
			continue
		}
		// A list: each item starts with "- "; other lines continue it.
		var items []string
		for line := range strings.SplitSeq(block, "\n") {
			line = strings.TrimSpace(line)
			if rest, ok := strings.CutPrefix(line, "- "); ok || len(items) == 0 {
				items = append(items, rest)
				continue
			}
			items[len(items)-1] += " " + line
		}
		b.WriteString("<ul>\n")
		for _, it := range items {
			b.WriteString("<li>" + inline(it) + "</li>\n")
		}
		b.WriteString("</ul>\n")
	}
	return template.HTML(b.String()) // escaped above
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

var docTemplate = template.Must(template.New("docs").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}}: API reference</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;margin:0;display:flex}
nav{width:18rem;flex:none;height:100vh;position:sticky;top:0;overflow:auto;background:#f4f6f9;border-right:1px solid #dde2ea;padding:1rem;box-sizing:border-box;font-size:14px}
nav ul{list-style:none;padding-left:.5rem;margin:.2rem 0 .8rem}
nav a{color:#1d2330;text-decoration:none}
main{padding:1.5rem 2.5rem;max-width:60rem;min-width:0}
h1{margin-top:0}h5{font-size:14px;margin:1rem 0 .2rem}h2{border-bottom:2px solid #dde2ea;padding-bottom:.3rem;margin-top:2.5rem}
section.op{border:1px solid #dde2ea;border-radius:6px;padding:.2rem 1.2rem 1rem;margin:1.2rem 0}
.method{display:inline-block;min-width:4.5rem;text-align:center;border-radius:4px;color:#fff;font:bold 13px monospace;padding:.15rem .4rem;margin-right:.5rem}
.GET{background:#2f6fb3}.POST{background:#2e8b57}.PUT,.PATCH{background:#b8860b}.DELETE{background:#b22222}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
pre{background:#f4f6f9;border:1px solid #dde2ea;border-radius:4px;padding:.6rem;overflow:auto}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #dde2ea;padding:.3rem .5rem;text-align:left;vertical-align:top}
.scope{font-size:13px;color:#555}
</style>
</head>
<body>
<nav>
<strong>{{.Title}}</strong><br><span class="scope">version {{.Version}}</span>
{{range .Tags}}<div><a href="#tag-{{.Name}}"><strong>{{.Name}}</strong></a><ul>
{{range .Operations}}<li><a href="#{{.Anchor}}"><code>{{.Method}}</code> {{.Path}}</a></li>
{{end}}</ul></div>{{end}}
{{if .Webhooks}}<div><a href="#webhooks"><strong>webhooks (sent to your endpoint)</strong></a><ul>
{{range .Webhooks}}<li><a href="#{{.Anchor}}"><code>{{.Path}}</code></a></li>
{{end}}</ul></div>{{end}}
<div><a href="#schemas"><strong>schemas</strong></a></div>
</nav>
<main>
<h1>{{.Title}} <small class="scope">{{.Version}}</small></h1>
<p><em>{{.Summary}}</em></p>
{{.Description}}
<p>The raw document: <a href="/openapi.yaml">/openapi.yaml</a>.</p>
{{range .Tags}}
<h2 id="tag-{{.Name}}">{{.Name}}</h2>
{{.Description}}
{{range .Operations}}{{template "op" .}}{{end}}{{end}}
{{if .Webhooks}}<h2 id="webhooks">Webhooks</h2>
<p>What the gateway POSTs to a CRM's webhook endpoint, one entry per event type: the request body (the envelope, with the <code>data</code> of that type), the signature headers, and what each answer makes the gateway do.</p>
{{range .Webhooks}}{{template "op" .}}{{end}}{{end}}
<h2 id="schemas">Schemas</h2>
{{range .Schemas}}<h3 id="{{.Anchor}}">{{.Name}}</h3>
<pre>{{.JSON}}</pre>
{{end}}
</main>
</body>
</html>
{{define "op"}}
<section class="op" id="{{.Anchor}}">
<h3><span class="method {{.Method}}">{{.Method}}</span><code>{{.Path}}</code></h3>
<p><strong>{{.Summary}}</strong> <span class="scope">({{.ID}}{{if .Scope}}; API key scope: {{.Scope}}{{end}})</span></p>
{{.Description}}
{{if .Params}}<h4>Parameters</h4>
<table><tr><th>name</th><th>in</th><th>required</th><th>schema</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{if .Required}}yes{{else}}no{{end}}</td><td><pre>{{.Schema}}</pre></td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{with .Body}}<h4>Request body <span class="scope">({{.MediaType}}, {{if .Required}}required{{else}}optional{{end}})</span></h4>
<pre>{{.Schema}}</pre>
{{if .Example}}<p>Example:</p><pre>{{.Example}}</pre>{{end}}{{end}}
<h4>Responses</h4>
{{range .Responses}}<h5>{{.Status}}</h5>
{{.Description}}{{if .Headers}}<p class="scope">headers: {{range $i, $h := .Headers}}{{if $i}}, {{end}}<code>{{$h}}</code>{{end}}</p>{{end}}
{{range .Content}}<p class="scope">{{.MediaType}}</p>{{if .Schema}}<pre>{{.Schema}}</pre>{{end}}{{if .Example}}<p>Example:</p><pre>{{.Example}}</pre>{{end}}
{{end}}{{end}}
</section>
{{end}}`))
