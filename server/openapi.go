package server

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the hand-written OpenAPI 3 document. TestOpenAPICoversRoutes
// checks that it describes every route of the table and that every route it
// describes answers.
//
//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(openapiDoc)
}
