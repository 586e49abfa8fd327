package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/wxfleet/wxfleet"
)

// The console's API reference (GET /docs/api) is rendered on the server
// from the same document GET /api/v1/openapi.json serves: no script, no
// CDN, and it cannot drift from the description the tests hold the routes to.

// apiDocSection is one tag's operations.
type apiDocSection struct {
	Tag, Description string
	Ops              []apiDocOp
}

type apiDocOp struct {
	Method, Path, Anchor  string
	Summary, SummaryEN    string
	Description           string
	Public                bool
	Params                []apiDocParam
	Body                  []apiDocRow
	BodyNote              string
	Responses             []apiDocResponse
	RequestContentPresent bool
}

type apiDocParam struct {
	Name, In, Type, Description string
	Required                    bool
}

type apiDocResponse struct {
	Code, Description string
	Rows              []apiDocRow
}

// apiDocRow is one field of a schema, Depth levels down.
type apiDocRow struct {
	Depth                   int
	Name, Type, Description string
	Required                bool
}

var apiDocs = sync.OnceValues(func() ([]apiDocSection, error) {
	raw, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	return buildAPIDocs(raw)
})

func (s *Server) apiDocsPage(w http.ResponseWriter, r *http.Request) {
	sections, err := apiDocs()
	if err != nil {
		s.errorPage(w, r, "接口文档 API reference", wxfleet.WrapError(wxfleet.EINTERNAL, "接口描述无法生成 / the API description could not be built", err), "/")
		return
	}
	s.render(w, r, http.StatusOK, "apidocs", map[string]any{"Title": "接口文档 API reference", "Sections": sections})
}

type docObj = map[string]any

func buildAPIDocs(raw []byte) ([]apiDocSection, error) {
	var doc docObj
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	comps, _ := doc["components"].(docObj)
	resolve := func(v any) (docObj, string) {
		m, _ := v.(docObj)
		ref, _ := m["$ref"].(string)
		if ref == "" {
			return m, ""
		}
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if len(parts) != 2 {
			return nil, ref
		}
		sec, _ := comps[parts[0]].(docObj)
		target, _ := sec[parts[1]].(docObj)
		// A $ref's siblings (a description) win over the target's.
		out := docObj{}
		for k, v := range target {
			out[k] = v
		}
		for k, v := range m {
			if k != "$ref" {
				out[k] = v
			}
		}
		return out, parts[1]
	}

	var sections []apiDocSection
	index := map[string]int{}
	tags, _ := doc["tags"].([]any)
	for _, t := range tags {
		tm, _ := t.(docObj)
		name, _ := tm["name"].(string)
		desc, _ := tm["description"].(string)
		index[name] = len(sections)
		sections = append(sections, apiDocSection{Tag: name, Description: desc})
	}
	paths, _ := doc["paths"].(docObj)
	names := make([]string, 0, len(paths))
	for p := range paths {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		item, _ := paths[p].(docObj)
		for _, m := range []string{"get", "post", "put", "patch", "delete"} {
			op, ok := item[m].(docObj)
			if !ok {
				continue
			}
			o := apiDocOp{Method: strings.ToUpper(m), Path: p, Anchor: str(op["operationId"])}
			o.Summary, o.SummaryEN, _ = strings.Cut(str(op["summary"]), " / ")
			o.Description = str(op["description"])
			if sec, ok := op["security"].([]any); ok && len(sec) == 0 {
				o.Public = true
			}
			params, _ := op["parameters"].([]any)
			for _, pv := range params {
				pm, _ := resolve(pv)
				sm, ref := resolve(pm["schema"])
				o.Params = append(o.Params, apiDocParam{Name: str(pm["name"]), In: str(pm["in"]), Type: typeName(sm, ref),
					Description: str(pm["description"]), Required: pm["required"] == true})
			}
			if rb, ok := op["requestBody"]; ok {
				rbm, _ := resolve(rb)
				o.RequestContentPresent = true
				o.BodyNote = str(rbm["description"])
				if sm, ref := mediaSchema(rbm, resolve); sm != nil {
					o.Body = schemaRows(sm, ref, resolve, 0, nil)
				}
			}
			resps, _ := op["responses"].(docObj)
			codes := make([]string, 0, len(resps))
			for c := range resps {
				codes = append(codes, c)
			}
			sort.Strings(codes) // 2xx, 4xx, 5xx, then default
			for _, c := range codes {
				rm, _ := resolve(resps[c])
				resp := apiDocResponse{Code: c, Description: str(rm["description"])}
				if sm, ref := mediaSchema(rm, resolve); sm != nil && strings.HasPrefix(c, "2") {
					resp.Rows = schemaRows(sm, ref, resolve, 0, nil)
				}
				o.Responses = append(o.Responses, resp)
			}
			tag := "other"
			if ts, _ := op["tags"].([]any); len(ts) > 0 {
				tag = str(ts[0])
			}
			i, ok := index[tag]
			if !ok {
				i = len(sections)
				index[tag] = i
				sections = append(sections, apiDocSection{Tag: tag})
			}
			sections[i].Ops = append(sections[i].Ops, o)
		}
	}
	return slices.DeleteFunc(sections, func(s apiDocSection) bool { return len(s.Ops) == 0 }), nil
}

// mediaSchema is the JSON schema of a request body or response, if any.
func mediaSchema(m docObj, resolve func(any) (docObj, string)) (docObj, string) {
	content, _ := m["content"].(docObj)
	media, ok := content["application/json"].(docObj)
	if !ok {
		return nil, ""
	}
	return resolve(media["schema"])
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// typeName says a schema's type for people: its component name when it is
// one, "array of X", the enum's values.
func typeName(m docObj, ref string) string {
	t := ""
	switch v := m["type"].(type) {
	case string:
		t = v
	case []any:
		var parts []string
		for _, p := range v {
			parts = append(parts, str(p))
		}
		t = strings.Join(parts, " | ")
	}
	if t == "" && len(m) == 0 {
		t = "any"
	}
	if f := str(m["format"]); f != "" {
		t += " (" + f + ")"
	}
	if ref != "" && t != "" && !strings.HasPrefix(t, "object") {
		t = ref + ": " + t
	} else if ref != "" {
		t = ref
	}
	if items, ok := m["items"].(docObj); ok {
		name := str(items["$ref"])
		if name != "" {
			name = name[strings.LastIndex(name, "/")+1:]
		} else {
			name = str(items["type"])
		}
		t += " of " + name
	}
	if e, ok := m["enum"].([]any); ok {
		var vals []string
		for _, v := range e {
			vals = append(vals, fmt.Sprint(v))
		}
		t += " [" + strings.Join(vals, ", ") + "]"
	}
	return t
}

// schemaRows flattens a schema into rows: each property, its type and
// whether it is required, nested objects (and arrays of them) indented.
func schemaRows(m docObj, ref string, resolve func(any) (docObj, string), depth int, seen []string) []apiDocRow {
	if depth == 0 {
		rows := []apiDocRow{{Depth: 0, Name: "", Type: typeName(m, ref), Description: str(m["description"])}}
		return append(rows, propertyRows(m, ref, resolve, 1, seen)...)
	}
	return propertyRows(m, ref, resolve, depth, seen)
}

func propertyRows(m docObj, ref string, resolve func(any) (docObj, string), depth int, seen []string) []apiDocRow {
	if ref != "" {
		if slices.Contains(seen, ref) || depth > 4 {
			return nil
		}
		seen = append(seen, ref)
	}
	if items, ok := m["items"]; ok {
		im, iref := resolve(items)
		return propertyRows(im, iref, resolve, depth, seen)
	}
	props, _ := m["properties"].(docObj)
	required := map[string]bool{}
	if rs, ok := m["required"].([]any); ok {
		for _, r := range rs {
			required[str(r)] = true
		}
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	var rows []apiDocRow
	for _, n := range names {
		pm, pref := resolve(props[n])
		rows = append(rows, apiDocRow{Depth: depth, Name: n, Type: typeName(pm, pref), Description: str(pm["description"]), Required: required[n]})
		rows = append(rows, propertyRows(pm, pref, resolve, depth+1, seen)...)
	}
	return rows
}
