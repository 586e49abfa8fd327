package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"slices"
	"strconv"
)

// Committing code to a mini program (its 体验版) and reading it back:
// commit, get_page, get_qrcode, get_category. docs/wechat-code.md "Commit,
// audit, release".

// commitRequest is the body of /wxa/commit. Fields stay raw so that absence
// and type are told apart.
type commitRequest struct {
	TemplateID  json.RawMessage `json:"template_id"`
	ExtJSON     json.RawMessage `json:"ext_json"`
	UserVersion *string         `json:"user_version"`
	UserDesc    *string         `json:"user_desc"`
}

// POST /wxa/commit {template_id, ext_json, user_version, user_desc}
func (s *Sandbox) apiCommit(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req commitRequest
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	// Required fields first (all four are 必填 in WeChat's reference).
	tid, given := flexID(req.TemplateID)
	if !given {
		return nil, 85014
	}
	var extJSON string
	if json.Unmarshal(req.ExtJSON, &extJSON) != nil {
		return nil, 85048 // absent, or not a string: ext_json must be a JSON string
	}
	if req.UserVersion == nil || *req.UserVersion == "" || req.UserDesc == nil {
		return nil, 47001
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	t := cs.templates[tid]
	if t == nil || t.Draft.Component != who.comp.AppID {
		return nil, 85014
	}
	if code := checkExtJSON(extJSON, who.appid, t); code != 0 {
		return nil, code
	}
	if t.Draft.SizeKB > cs.meta.Limits.PackageKB {
		return nil, 85044
	}
	a := cs.app(who.appid)
	a.Component = who.comp.AppID
	a.Exp = &codeVersion{TemplateID: t.ID, UserVersion: *req.UserVersion, UserDesc: *req.UserDesc, ExtJSON: extJSON,
		Pages: slices.Clone(t.Draft.Pages), PrivacyKeys: slices.Clone(t.Draft.PrivacyKeys), CommitTime: cs.now()}
	a.Counts.Commits++
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// standardExtKeys are the only ext_json keys a standard template (标准模板)
// takes (WeChat's commit reference).
var standardExtKeys = []string{"extAppid", "ext", "window"}

// checkExtJSON checks ext_json against the app and the template: 85048 when
// it is not a JSON object, 85013 for a wrong extAppid or a key of the wrong
// type (or a key a standard template does not take), 85047 for empty pages,
// 85046 for a tabBar item without pagePath, 85045 for any page the template
// does not have (ext_json cannot add pages).
func checkExtJSON(extJSON, appid string, t *codeTemplate) int {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(extJSON), &keys); err != nil || keys == nil {
		return 85048
	}
	if t.Type == 1 {
		for k := range keys {
			if !slices.Contains(standardExtKeys, k) {
				return 85013
			}
		}
	}
	var cfg struct {
		ExtAppID *string                    `json:"extAppid"`
		Pages    *[]string                  `json:"pages"`
		ExtPages map[string]json.RawMessage `json:"extPages"`
		TabBar   *struct {
			List []struct {
				PagePath *string `json:"pagePath"`
			} `json:"list"`
		} `json:"tabBar"`
		Subpackages []struct {
			Root  string   `json:"root"`
			Pages []string `json:"pages"`
		} `json:"subpackages"`
	}
	if json.Unmarshal([]byte(extJSON), &cfg) != nil {
		return 85013
	}
	// WeChat's own example commits "extAppid": "", so an empty one is taken;
	// another app's appid is not.
	if cfg.ExtAppID != nil && *cfg.ExtAppID != "" && *cfg.ExtAppID != appid {
		return 85013
	}
	have := t.Draft.Pages
	if cfg.Pages != nil {
		if len(*cfg.Pages) == 0 {
			return 85047
		}
		for _, p := range *cfg.Pages {
			if !slices.Contains(have, p) {
				return 85045
			}
		}
	}
	for p := range cfg.ExtPages {
		if !slices.Contains(have, p) {
			return 85045
		}
	}
	if cfg.TabBar != nil {
		for _, item := range cfg.TabBar.List {
			if item.PagePath == nil || *item.PagePath == "" {
				return 85046
			}
			if !slices.Contains(have, *item.PagePath) {
				return 85045
			}
		}
	}
	for _, sp := range cfg.Subpackages {
		for _, p := range sp.Pages {
			if !slices.Contains(have, sp.Root+"/"+p) && !slices.Contains(have, sp.Root+p) {
				return 85045
			}
		}
	}
	return 0
}

// GET /wxa/get_page → page_list of the committed code; 86001 before any commit.
func (s *Sandbox) apiGetPage(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	if a.Exp == nil {
		return nil, 86001
	}
	return struct {
		wxError
		Pages []string `json:"page_list"`
	}{wxError{0, "ok"}, slices.Clone(a.Exp.Pages)}, 0
}

// imageKey carries an imageAnswer in a request's context.
type imageKey struct{}

// imageAnswer holds the image an API answers instead of JSON.
type imageAnswer struct{ png []byte }

// imageRoute serves an API that answers an image on success and WeChat's
// JSON on error, through the same wrapper as every API (counts, faults,
// quotas): the handler leaves the PNG in the request's imageAnswer, and the
// writer sends it in place of the JSON success body.
func (s *Sandbox) imageRoute(path string, h apiFunc) http.HandlerFunc {
	inner := s.api(path, h)
	return func(w http.ResponseWriter, r *http.Request) {
		ans := &imageAnswer{}
		inner(&imageWriter{ResponseWriter: w, ans: ans}, r.WithContext(context.WithValue(r.Context(), imageKey{}, ans)))
	}
}

// imageWriter replaces the body with the image once the handler set one.
type imageWriter struct {
	http.ResponseWriter
	ans  *imageAnswer
	done bool
}

func (w *imageWriter) WriteHeader(status int) {
	if w.ans.png == nil {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", strconv.Itoa(len(w.ans.png)))
	w.ResponseWriter.WriteHeader(http.StatusOK)
	w.ResponseWriter.Write(w.ans.png)
	w.done = true
}

func (w *imageWriter) Write(b []byte) (int, error) {
	if w.done {
		return len(b), nil // the JSON placeholder
	}
	return w.ResponseWriter.Write(b)
}

// GET /wxa/get_qrcode[?path=] → the 体验版 QR code as a PNG image; 86001
// before any commit. The image is a QR-like pattern derived from the app,
// the version and the path: a real, decodable PNG, not a readable QR code.
func (s *Sandbox) apiGetQRCode(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	a := cs.app(who.appid)
	var version string
	if a.Exp != nil {
		version = a.Exp.UserVersion + a.Exp.CommitTime.String()
	}
	cs.mu.Unlock()
	if version == "" {
		return nil, 86001
	}
	img, err := qrPNG(who.appid + "\x00" + version + "\x00" + r.URL.Query().Get("path"))
	ans, _ := r.Context().Value(imageKey{}).(*imageAnswer)
	if err != nil || ans == nil {
		return nil, -1
	}
	ans.png = img
	return ok(), 0
}

// qrPNG draws a 25×25-module pattern with the three finder squares of a QR
// code, 8 pixels a module with a 4-module quiet zone.
func qrPNG(seed string) ([]byte, error) {
	const modules, scale, quiet = 25, 8, 4
	sum := sha256.Sum256([]byte(seed))
	size := (modules + 2*quiet) * scale
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	dark := func(x, y int) bool {
		for _, f := range [][2]int{{0, 0}, {modules - 7, 0}, {0, modules - 7}} {
			dx, dy := x-f[0], y-f[1]
			if dx >= 0 && dx < 7 && dy >= 0 && dy < 7 {
				return dx == 0 || dy == 0 || dx == 6 || dy == 6 || (dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4)
			}
			if dx >= -1 && dx <= 7 && dy >= -1 && dy <= 7 {
				return false // the separator around a finder
			}
		}
		h := fnv.New32a()
		h.Write(sum[:])
		h.Write([]byte{byte(x), byte(y)})
		return h.Sum32()%2 == 0
	}
	for y := range modules {
		for x := range modules {
			if !dark(x, y) {
				continue
			}
			for py := range scale {
				for px := range scale {
					img.SetColorIndex((x+quiet)*scale+px, (y+quiet)*scale+py, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// categoryIDs gives the seeded categories WeChat-like ids. WeChat's real
// ids are not needed: get_category and submit_audit only have to agree.
func categoryID(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 100 + int(h.Sum32()%900)
}

// GET /wxa/get_category → category_list of the app's categories.
func (s *Sandbox) apiGetCategory(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	type item struct {
		FirstClass  string `json:"first_class"`
		SecondClass string `json:"second_class"`
		FirstID     int    `json:"first_id"`
		SecondID    int    `json:"second_id"`
	}
	out := []item{}
	for _, c := range who.categories {
		out = append(out, item{c.First, c.Second, categoryID(c.First), categoryID(c.First + "/" + c.Second)})
	}
	return struct {
		wxError
		List []item `json:"category_list"`
	}{wxError{0, "ok"}, out}, 0
}
