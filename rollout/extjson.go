// Package rollout ships a code template to a fleet of mini programs:
// ext_json rendered per authorizer, then commit → submit_audit → audit →
// release per app, in cohorts, as durable River jobs.
package rollout

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// maxExtJSON bounds a rendered ext_json. WeChat publishes no limit for the
// field; a commit's whole package is limited, and an ext_json this large
// is a mistake (a setting holding a file, say) better caught here.
const maxExtJSON = 512 << 10

// placeholder matches ${appid} and ${settings.a.b}.
var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_.\-]+)\}`)

// RenderExtJSON renders a template's ext_json for one authorizer.
//
// tmpl is a JSON object. In its string values, ${appid} is the authorizer's
// appid and ${settings.KEY} (KEY may be a dotted path) the authorizer's
// setting. A string that is exactly one placeholder takes the value with its
// JSON type (a number stays a number, an object an object); a placeholder
// inside a longer string takes the value's text, and only strings, numbers
// and booleans have one. extAppid is the authorizer's appid: it is set when
// the template leaves it out, and a template or setting naming another appid
// is an error (WeChat would refuse the commit or, worse, ship one merchant's
// configuration to another). The result is compact JSON, as a string: the
// form commit's ext_json field takes.
func RenderExtJSON(tmpl, appID string, settings map[string]any) (string, error) {
	if strings.TrimSpace(tmpl) == "" {
		tmpl = "{}"
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(tmpl))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return "", wxfleet.Errorf(wxfleet.EINVALID, "模板的 ext_json 不是合法的 JSON：%v / the template's ext_json is not valid JSON: %v", err, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return "", wxfleet.Errorf(wxfleet.EINVALID, "模板的 ext_json 必须是 JSON 对象 / the template's ext_json must be a JSON object")
	}
	r := renderer{appID: appID, settings: settings}
	out, err := r.value(obj, "")
	if err != nil {
		return "", err
	}
	obj = out.(map[string]any)
	switch v := obj["extAppid"].(type) {
	case nil:
		obj["extAppid"] = appID
	case string:
		if v != appID {
			return "", wxfleet.Errorf(wxfleet.EINVALID, "ext_json 的 extAppid 是 %s，与小程序 %s 不符 / ext_json's extAppid is %s, not the mini program %s", v, appID, v, appID)
		}
	default:
		return "", wxfleet.Errorf(wxfleet.EINVALID, "ext_json 的 extAppid 必须是字符串 / ext_json's extAppid must be a string")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return "", wxfleet.WrapError(wxfleet.EINVALID, "无法生成 ext_json / cannot encode ext_json", err)
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	if len(s) > maxExtJSON {
		return "", wxfleet.Errorf(wxfleet.EINVALID, "生成的 ext_json 有 %d 字节，超过 %d / the rendered ext_json is %d bytes, over %d", len(s), maxExtJSON, len(s), maxExtJSON)
	}
	return s, nil
}

type renderer struct {
	appID    string
	settings map[string]any
}

// value renders v found at path (for error messages).
func (r renderer) value(v any, path string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the first error is the same every time
		for _, k := range keys {
			rv, err := r.value(v[k], join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = rv
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			rv, err := r.value(e, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = rv
		}
		return out, nil
	case string:
		return r.str(v, path)
	default:
		return v, nil
	}
}

func (r renderer) str(s, path string) (any, error) {
	if m := placeholder.FindStringSubmatch(s); m != nil && m[0] == s {
		return r.lookup(m[1], path)
	}
	var firstErr error
	out := placeholder.ReplaceAllStringFunc(s, func(ph string) string {
		if firstErr != nil {
			return ""
		}
		v, err := r.lookup(ph[2:len(ph)-1], path)
		if err != nil {
			firstErr = err
			return ""
		}
		switch v := v.(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(v)
		default:
			firstErr = wxfleet.Errorf(wxfleet.EINVALID, "ext_json 的 %s：%s 不是字符串、数字或布尔值，不能嵌入文字 / ext_json %s: %s is not a string, number or boolean and cannot be part of a text", path, ph, path, ph)
			return ""
		}
	})
	return out, firstErr
}

// lookup resolves a placeholder name.
func (r renderer) lookup(name, path string) (any, error) {
	if name == "appid" {
		return r.appID, nil
	}
	key, ok := strings.CutPrefix(name, "settings.")
	if !ok || key == "" {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "ext_json 的 %s：未知的占位符 ${%s}（可用 ${appid} 与 ${settings.键}）/ ext_json %s: unknown placeholder ${%s} (use ${appid} or ${settings.KEY})", path, name, path, name)
	}
	var cur any = r.settings
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			cur = nil
			break
		}
		cur = m[part]
	}
	if cur == nil {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "ext_json 的 %s 需要设置项 %s，该小程序没有 / ext_json %s needs the setting %s, which this mini program does not have", path, key, path, key)
	}
	return cur, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// ValidateExtJSONTemplate checks a template's ext_json before any authorizer
// is rendered: valid JSON, an object, placeholders that exist.
func ValidateExtJSONTemplate(tmpl string) error {
	if strings.TrimSpace(tmpl) == "" {
		return nil
	}
	var doc any
	if err := json.Unmarshal([]byte(tmpl), &doc); err != nil {
		return wxfleet.Errorf(wxfleet.EINVALID, "ext_json 不是合法的 JSON：%v / ext_json is not valid JSON: %v", err, err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return wxfleet.Errorf(wxfleet.EINVALID, "ext_json 必须是 JSON 对象 / ext_json must be a JSON object")
	}
	for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
		if n := m[1]; n != "appid" && (!strings.HasPrefix(n, "settings.") || n == "settings.") {
			return wxfleet.Errorf(wxfleet.EINVALID, "ext_json 有未知的占位符 ${%s}（可用 ${appid} 与 ${settings.键}）/ ext_json has an unknown placeholder ${%s} (use ${appid} or ${settings.KEY})", n, n)
		}
	}
	return nil
}
