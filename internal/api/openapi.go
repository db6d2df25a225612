package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIHandler serves the OpenAPI 3.1 document of the whole service
// (GET /api/v1/openapi.json).
func OpenAPIHandler() http.HandlerFunc {
	sum := sha256.Sum256(openAPIDoc)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(openAPIDoc)
	}
}

// openAPIMethods are the operations a path item may hold (OpenAPI 3.1 §4.8.9).
var openAPIMethods = [...]string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// chiAllMethods is what chi registers for Handle/HandleFunc: such a route
// answers whatever the document says it answers.
var chiAllMethods = [...]string{"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}

// documentedOps lists "METHOD path" of every operation in doc.
func documentedOps(doc []byte) (map[string][]string, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	ops := make(map[string][]string)
	for path, item := range d.Paths {
		for _, m := range openAPIMethods {
			if _, ok := item[m]; ok {
				ops[path] = append(ops[path], strings.ToUpper(m))
			}
		}
	}
	return ops, nil
}

// chiParamRegexp matches a chi parameter with a pattern, {id:[0-9]+}.
var chiParamRegexp = regexp.MustCompile(`\{([^{}:]+):[^{}]*\}`)

// samePath reports whether a chi route pattern and an OpenAPI path name the
// same resource: equal segments and parameter names, a chi regexp ignored,
// and a trailing chi wildcard "*" standing for one trailing OpenAPI
// parameter (/pki/ocsp/* is /pki/ocsp/{request}).
func samePath(chiPattern, docPath string) bool {
	c := strings.Split(chiParamRegexp.ReplaceAllString(chiPattern, "{$1}"), "/")
	d := strings.Split(docPath, "/")
	if len(c) != len(d) {
		return false
	}
	for i := range c {
		last := i == len(c)-1
		if c[i] != d[i] && !(last && c[i] == "*" && strings.HasPrefix(d[i], "{") && strings.HasSuffix(d[i], "}")) {
			return false
		}
	}
	return true
}

// CheckOpenAPI compares the router with the embedded OpenAPI document both
// ways and reports every routed method and path the document lacks and
// every documented operation nothing routes.
func CheckOpenAPI(router chi.Routes) error {
	return checkOpenAPI(router, openAPIDoc)
}

func checkOpenAPI(router chi.Routes, doc []byte) error {
	documented, err := documentedOps(doc)
	if err != nil {
		return err
	}
	routed := make(map[string][]string)
	err = chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[route] = append(routed[route], method)
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk the router: %w", err)
	}
	// Handle/HandleFunc register every method: take them as "any".
	anyMethod := make(map[string]bool)
	for route, methods := range routed {
		anyMethod[route] = !slices.ContainsFunc(chiAllMethods[:], func(m string) bool { return !slices.Contains(methods, m) })
	}

	docPaths, routes := slices.Collect(maps.Keys(documented)), slices.Collect(maps.Keys(routed))
	var problems []string
	for route, methods := range routed {
		if anyMethod[route] {
			if !slices.ContainsFunc(docPaths, func(p string) bool { return samePath(route, p) }) {
				problems = append(problems, "routed but not documented: (any method) "+route)
			}
			continue
		}
		for _, m := range methods {
			ok := slices.ContainsFunc(docPaths, func(p string) bool {
				return samePath(route, p) && slices.Contains(documented[p], m)
			})
			if !ok {
				problems = append(problems, "routed but not documented: "+m+" "+route)
			}
		}
	}
	for path, methods := range documented {
		for _, m := range methods {
			ok := slices.ContainsFunc(routes, func(route string) bool {
				return samePath(route, path) && (anyMethod[route] || slices.Contains(routed[route], m))
			})
			if !ok {
				problems = append(problems, "documented but not routed: "+m+" "+path)
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	return errors.Join(errs...)
}
