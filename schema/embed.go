// Package schema holds the HTTP API description and the JSON Schemas of the
// wire formats, embedded so the edge serves exactly what is documented.
package schema

import _ "embed"

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI document of the edge's HTTP API.
func OpenAPI() []byte { return openAPI }
