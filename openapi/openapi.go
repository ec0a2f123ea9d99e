// Package openapi embeds the gateway's OpenAPI 3.1 document, the single
// source of truth for the REST API: served to CRM teams and used to validate
// requests at run time.
package openapi

import _ "embed"

//go:embed gateway.yaml
var document []byte

// Document returns the OpenAPI document as YAML. The slice is a copy.
func Document() []byte { return append([]byte(nil), document...) }
