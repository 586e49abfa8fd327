package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/wxfleet/wxfleet"
)

// The API description is kept as OpenAPI 3.1 JSON in openapi/: base.json
// holds what every route shares (info, security, the Error schema, the
// X-Request-Id header, common parameters and responses); every other file is
// one area's fragment, {"paths": {...}, "components": {...}}, merged into it.
// One file per area lets features document their routes side by side
// without touching each other's text. docs/api.md says how to add a route.
//
//go:embed openapi/*.json
var openAPIFS embed.FS

// OpenAPIRouteExtension on a path item names the pattern that serves the
// path when it is not the path itself: a route with a {name...} wildcard,
// or one route that serves several documented paths
// (POST /api/v1/rollouts/{id}/{action} serves .../pause, .../resume, …).
const OpenAPIRouteExtension = "x-wxfleet-route"

// OpenAPI is the merged API description, as served at
// GET /api/v1/openapi.json. It is built once from the embedded files.
func OpenAPI() ([]byte, error) { return openAPIDoc() }

var openAPIDoc = sync.OnceValues(func() ([]byte, error) { return mergeOpenAPI(openAPIFS, "openapi") })

// mergeOpenAPI merges dir's fragments into dir/base.json. A fragment may
// hold only paths, components and tags; a path may gain operations from
// several fragments, but an operation, a component or a tag is defined once.
func mergeOpenAPI(fsys fs.FS, dir string) ([]byte, error) {
	doc, err := readJSONObject(fsys, path.Join(dir, "base.json"))
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	paths := objectField(doc, "paths")
	components := objectField(doc, "components")
	for _, name := range names {
		if path.Base(name) == "base.json" {
			continue
		}
		frag, err := readJSONObject(fsys, name)
		if err != nil {
			return nil, err
		}
		for key, v := range frag {
			switch key {
			case "paths":
				if err := mergePaths(paths, v, name); err != nil {
					return nil, err
				}
			case "components":
				if err := mergeComponents(components, v, name); err != nil {
					return nil, err
				}
			case "tags":
				tags, _ := doc["tags"].([]any)
				more, ok := v.([]any)
				if !ok {
					return nil, fmt.Errorf("openapi: %s: tags must be an array", name)
				}
				doc["tags"] = append(tags, more...)
			default:
				return nil, fmt.Errorf("openapi: %s: a fragment holds only paths, components and tags, not %q (that belongs in base.json)", name, key)
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readJSONObject(fsys fs.FS, name string) (map[string]any, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", name, err)
	}
	if m == nil {
		return nil, fmt.Errorf("openapi: %s is not a JSON object", name)
	}
	return m, nil
}

// objectField is m[key] as an object, made if missing.
func objectField(m map[string]any, key string) map[string]any {
	o, ok := m[key].(map[string]any)
	if !ok {
		o = map[string]any{}
		m[key] = o
	}
	return o
}

func mergePaths(into map[string]any, v any, file string) error {
	paths, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("openapi: %s: paths must be an object", file)
	}
	for p, item := range paths {
		ops, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("openapi: %s: path %s must be an object", file, p)
		}
		have := objectField(into, p)
		for k, op := range ops {
			if old, dup := have[k]; dup && !(strings.HasPrefix(k, "x-") && reflect.DeepEqual(old, op)) {
				return fmt.Errorf("openapi: %s: %s %s is documented twice", file, strings.ToUpper(k), p)
			}
			have[k] = op
		}
	}
	return nil
}

func mergeComponents(into map[string]any, v any, file string) error {
	comps, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("openapi: %s: components must be an object", file)
	}
	for section, entries := range comps {
		named, ok := entries.(map[string]any)
		if !ok {
			return fmt.Errorf("openapi: %s: components.%s must be an object", file, section)
		}
		have := objectField(into, section)
		for name, def := range named {
			if _, dup := have[name]; dup {
				return fmt.Errorf("openapi: %s: components.%s.%s is defined twice", file, section, name)
			}
			have[name] = def
		}
	}
	return nil
}

// serveOpenAPI is GET /api/v1/openapi.json: public, like any published API
// description. It holds the routes' shapes only, no secret and no data.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := OpenAPI()
	if err != nil {
		s.apiError(w, r, wxfleet.WrapError(wxfleet.EINTERNAL, "接口描述无法生成 / the API description could not be built", err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(doc)
}

// publicAPI registers an /api/ route anyone may call (the API description):
// declared, so GuardAPI serves it, but with no caller to resolve, no role
// and nothing to audit. It is not among Routes, whose entries each need a
// caller.
func (s *Server) publicAPI(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	s.routesMu.Lock()
	if s.declared == nil {
		s.declared = map[string]Access{}
	}
	s.declared[pattern] = Access{}
	s.routesMu.Unlock()
	mux.Handle(pattern, capBody(s.apiCap(), h))
}
