// Package apiclient is a Go client of the edge's HTTP API, generated from
// schema/openapi.yaml by oapi-codegen (pinned below; `go generate` here
// regenerates it). The end-to-end tests drive the API through it, and
// TestAPIClientGenerated fails when it is not what the document generates:
// the description is one that tools accept and that the edge answers to.
package apiclient

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../../../schema/openapi.yaml
