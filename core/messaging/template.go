package messaging

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Template names: one per kind of message, each with the variables its
// cause provides (Catalogue).
const (
	TemplatePaymentReceived  = "payment_received"
	TemplateTokenIssued      = "token_issued"
	TemplateReminder         = "reminder"
	TemplateOverdue          = "overdue"
	TemplatePaidOff          = "paid_off"
	TemplatePaymentUnmatched = "payment_unmatched"
)

// DefaultLanguage is the language used when a customer's has no template.
const DefaultLanguage = "en"

// Var is a variable a template may use. A variable with a Guard is not
// always known (a payment that bought no token, a plan without a total
// price): a template may use it only inside a {{#Guard}}…{{/Guard}}
// section, which is left out when Guard is empty, so a customer never
// reads a blank.
type Var struct {
	Name  string
	Guard string
}

// Catalogue lists the variables each template's cause provides.
var Catalogue = map[string][]Var{
	TemplatePaymentReceived: {
		{Name: "name"}, {Name: "account"}, {Name: "amount"},
		{Name: "percent", Guard: "percent"}, {Name: "balance", Guard: "percent"},
		{Name: "token", Guard: "token"},
		{Name: "expiry", Guard: "expiry"}, {Name: "days", Guard: "expiry"},
	},
	TemplateTokenIssued: {
		{Name: "name"}, {Name: "token"},
		{Name: "account", Guard: "account"}, {Name: "days", Guard: "days"},
	},
	TemplateReminder: {
		{Name: "name"}, {Name: "account"}, {Name: "due_date"}, {Name: "days"}, {Name: "amount"},
	},
	TemplateOverdue: {
		{Name: "name"}, {Name: "account"}, {Name: "due_date"}, {Name: "days_late"}, {Name: "amount"},
	},
	TemplatePaidOff: {
		{Name: "name"}, {Name: "account"}, {Name: "total_paid"},
	},
	TemplatePaymentUnmatched: {
		{Name: "amount"}, {Name: "reference"}, {Name: "support", Guard: "support"},
	},
}

// node is a piece of a parsed template: text, a variable, or a section.
type node struct {
	text     string
	variable string
	section  string // the variable that guards children
	inverted bool   // {{^x}}: rendered when x is empty
	children []node
}

// Template is a parsed message template. Its syntax is text with
// {{variable}}, {{#variable}}…{{/variable}} (kept when the variable is not
// empty) and {{^variable}}…{{/variable}} (kept when it is).
type Template struct {
	source string
	nodes  []node
}

// Parse reads a template.
func Parse(src string) (*Template, error) {
	nodes, rest, err := parseNodes(src, "")
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q", rest)
	}
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty template")
	}
	return &Template{source: src, nodes: nodes}, nil
}

// parseNodes reads until the closing tag of open ("" at top level) and
// returns what is left after it.
func parseNodes(s, open string) ([]node, string, error) {
	var out []node
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if open != "" {
				return nil, "", fmt.Errorf("section {{#%s}} is not closed", open)
			}
			if s != "" {
				out = append(out, node{text: s})
			}
			return out, "", nil
		}
		if i > 0 {
			out = append(out, node{text: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, "", fmt.Errorf("unclosed {{ at %q", clip(s[i:]))
		}
		tag := strings.TrimSpace(s[i+2 : i+j])
		s = s[i+j+2:]
		switch {
		case tag == "":
			return nil, "", errors.New("empty {{}}")
		case tag[0] == '/':
			name := strings.TrimSpace(tag[1:])
			if name != open {
				return nil, "", fmt.Errorf("{{/%s}} closes no open section", name)
			}
			return out, s, nil
		case tag[0] == '#' || tag[0] == '^':
			name := strings.TrimSpace(tag[1:])
			if !validName(name) {
				return nil, "", fmt.Errorf("bad section name %q", name)
			}
			children, rest, err := parseNodes(s, name)
			if err != nil {
				return nil, "", err
			}
			out = append(out, node{section: name, inverted: tag[0] == '^', children: children})
			s = rest
		default:
			if !validName(tag) {
				return nil, "", fmt.Errorf("bad variable name %q", tag)
			}
			out = append(out, node{variable: tag})
		}
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// Check reports every variable of t its cause does not provide, and every
// guarded variable used outside a section of its guard.
func (t *Template) Check(vars []Var) error {
	known := make(map[string]Var, len(vars))
	for _, v := range vars {
		known[v.Name] = v
	}
	var errs []error
	var walk func(ns []node, open []string)
	walk = func(ns []node, open []string) {
		for _, n := range ns {
			switch {
			case n.variable != "":
				v, ok := known[n.variable]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("unknown variable {{%s}} (known: %s)", n.variable, names(vars)))
				case v.Guard != "" && !slices.Contains(open, v.Guard):
					errs = append(errs, fmt.Errorf("{{%s}} may be empty: use it inside {{#%s}}…{{/%s}}", n.variable, v.Guard, v.Guard))
				}
			case n.section != "":
				if _, ok := known[n.section]; !ok {
					errs = append(errs, fmt.Errorf("unknown section variable {{#%s}} (known: %s)", n.section, names(vars)))
				}
				if n.inverted {
					walk(n.children, open)
				} else {
					walk(n.children, append(slices.Clip(open), n.section))
				}
			}
		}
	}
	walk(t.nodes, nil)
	return errors.Join(errs...)
}

func names(vars []Var) string {
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Name
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Render fills t with values. A variable missing from values renders
// empty; Check at start makes sure that never happens in a customer's
// message.
func (t *Template) Render(values map[string]string) string {
	var b strings.Builder
	var walk func(ns []node)
	walk = func(ns []node) {
		for _, n := range ns {
			switch {
			case n.variable != "":
				b.WriteString(values[n.variable])
			case n.section != "":
				if (values[n.section] != "") != n.inverted {
					walk(n.children)
				}
			default:
				b.WriteString(n.text)
			}
		}
	}
	walk(t.nodes)
	return strings.TrimSpace(b.String())
}

// Overrides are configured templates by template name, then language.
type Overrides map[string]map[string]string

// Templates are the parsed templates a gateway renders: the shipped
// defaults, overridden by configuration, globally and per tenant.
type Templates struct {
	// sets are by tenant ("" for the global set), template, language.
	sets map[string]map[string]map[string]*Template
}

// NewTemplates parses and checks the shipped defaults and the given
// overrides (global, then per tenant) against the Catalogue. Every problem
// is returned, each naming its template and language; a template that
// uses a variable its cause does not provide is an error here, at start,
// never a blank in a customer's message.
func NewTemplates(global Overrides, tenants map[string]Overrides) (*Templates, error) {
	t := &Templates{sets: map[string]map[string]map[string]*Template{}}
	var errs []error
	add := func(tenant, path string, o Overrides) {
		set := map[string]map[string]*Template{}
		for name, langs := range o {
			vars, ok := Catalogue[name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s.%s: unknown template (known: %s)", path, name, strings.Join(TemplateNames(), ", ")))
				continue
			}
			set[name] = map[string]*Template{}
			for lang, src := range langs {
				p, err := Parse(src)
				if err == nil {
					err = p.Check(vars)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s.%s.%s: %w", path, name, lang, err))
					continue
				}
				set[name][lang] = p
			}
		}
		t.sets[tenant] = set
	}
	add("\x00default", "defaults", Defaults)
	add("", "templates", global)
	for tenant, o := range tenants {
		add(tenant, "tenants."+tenant+".templates", o)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// TemplateNames lists the template names in order.
func TemplateNames() []string {
	out := make([]string, 0, len(Catalogue))
	for n := range Catalogue {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the template name for tenant in lang: the tenant's own,
// else the configured global one, else the shipped default; in lang, else
// in DefaultLanguage. It reports the language it found.
func (t *Templates) Lookup(tenant, name, lang string) (*Template, string, bool) {
	for _, l := range []string{baseLanguage(lang), DefaultLanguage} {
		for _, set := range []string{tenant, "", "\x00default"} {
			if p, ok := t.sets[set][name][l]; ok {
				return p, l, true
			}
		}
	}
	return nil, "", false
}

// baseLanguage reduces a BCP 47 tag to its language: "fr-CI" is "fr".
func baseLanguage(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i > 0 {
		tag = tag[:i]
	}
	return tag
}
