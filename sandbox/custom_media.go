package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
)

// Customer-service media and typing (docs/wechat-capabilities.md):
// POST /cgi-bin/media/upload?type=image takes a multipart file and answers a
// temporary media_id that works 3 days; message/custom/send with an image (or
// a mini program card's thumb_media_id) needs one of the app's own live
// media ids (40007); the typing APIs show 正在输入 to a user the app talked
// with in the last 30 seconds.

// appOfToken returns the authorizer appid an access token names, "" if none.
func (s *Sandbox) appOfToken(r *http.Request) string {
	tok := r.URL.Query().Get("access_token")
	s.mu.Lock()
	defer s.mu.Unlock()
	if authz := s.st.tokens[codeIDOf(tok)]; tok != "" && authz != nil {
		return authz.AppID
	}
	return ""
}

// mediaCheck answers 40007 when a message/custom/send body names a media id
// (image.media_id, miniprogrampage.thumb_media_id) that is not one of the
// app's live temporary media, 0 otherwise (including bodies other checks
// refuse first).
func (s *Sandbox) mediaCheck(r *http.Request, body []byte) int {
	var req customSendRequest
	if json.Unmarshal(body, &req) != nil {
		return 0
	}
	var id string
	switch {
	case req.MsgType == "image" && req.Image != nil:
		id = req.Image.MediaID
	case req.MsgType == "miniprogrampage" && req.MiniProgramPage != nil:
		id = req.MiniProgramPage.ThumbMediaID
	}
	if id == "" {
		return 0
	}
	appid := s.appOfToken(r)
	if appid == "" {
		return 0
	}
	if !s.caps.mediaLive(appid, id) {
		return 40007
	}
	return 0
}

// mediaLive tells whether id is one of appid's temporary media, uploaded
// less than 3 days ago on the sandbox clock.
func (cs *capState) mediaLive(appid, id string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.peek(appid)
	if a == nil {
		return false
	}
	m, ok := a.Media[id]
	return ok && cs.now().Sub(m.CreatedAt) < mediaTTL
}

// logCustomSend records a delivered customer-service message in the user log.
func (s *Sandbox) logCustomSend(ev sendEvent, body []byte) {
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	a := cs.app(ev.AppID)
	a.LastOut[ev.ToUser] = now
	delete(a.Typing, ev.ToUser) // a message ends 正在输入
	cs.appendLog(ev.AppID, userLogEntry{Direction: "out", Via: "custom_send", OpenID: ev.ToUser, MsgType: ev.MsgType,
		Content: ev.Content, Body: json.RawMessage(slices.Clone(body)), At: now})
	cs.flush()
}

// mediaUploadLimit bounds the whole multipart body: the file and its headers.
const mediaUploadLimit = mediaImageLimit + 64<<10

// POST /cgi-bin/media/upload?access_token=AUTHORIZER_ACCESS_TOKEN&type=image,
// multipart/form-data with the file in the part named "media".
func (s *Sandbox) apiMediaUpload(r *http.Request, body []byte) (any, int) {
	appid := s.appOfToken(r)
	if appid == "" {
		return nil, 40001
	}
	if r.URL.Query().Get("type") != "image" {
		return nil, 40004 // mini programs upload images only
	}
	data, code := mediaPart(r, body)
	if code != 0 {
		return nil, code
	}
	if len(data) > mediaImageLimit {
		return nil, 40009
	}
	mimeType := http.DetectContentType(data)
	if !slices.Contains([]string{"image/jpeg", "image/png", "image/gif", "image/bmp"}, mimeType) {
		return nil, 40005
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	a := cs.app(appid)
	for id, m := range a.Media { // WeChat forgets expired media
		if now.Sub(m.CreatedAt) >= mediaTTL {
			delete(a.Media, id)
		}
	}
	id := randomToken(48)
	a.Media[id] = media{Type: "image", Size: len(data), Mime: mimeType, CreatedAt: now}
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return struct {
		Type      string `json:"type"`
		MediaID   string `json:"media_id"`
		CreatedAt int64  `json:"created_at"`
	}{"image", id, now.Unix()}, 0
}

// mediaPart returns the file of the multipart part "media": 41005 when the
// body is not multipart or has no such part or it is empty.
func mediaPart(r *http.Request, body []byte) ([]byte, int) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, 41005
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, 41005
		}
		if err != nil {
			return nil, 41005
		}
		if p.FormName() != "media" {
			continue
		}
		data, err := io.ReadAll(p)
		if err != nil || len(data) == 0 {
			return nil, 41005
		}
		return data, 0
	}
}

// POST /cgi-bin/message/custom/business/typing (mini programs) and
// /cgi-bin/message/custom/typing (official accounts' path, accepted too):
// {"touser","command":"Typing"|"CancelTyping"}.
func (s *Sandbox) apiTyping(r *http.Request, body []byte) (any, int) {
	var req struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}
	now := s.now()
	s.mu.Lock()
	_, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), now)
	if code == 0 {
		code = decode(body, &req)
	}
	var appid string
	seenAt := now
	if code == 0 {
		appid = authz.AppID
		need := funcOfficialMessages
		if a := s.st.account(appid); a != nil && a.MiniProgram {
			need = funcMiniCustomerCare
		}
		t, known := s.st.users(appid).Seen[req.ToUser]
		switch {
		case !slices.Contains(authz.FuncInfo, need):
			code = 61007
		case req.ToUser == "" || !known:
			code = 40003
		case req.Command != "Typing" && req.Command != "CancelTyping":
			code = 45072
		}
		seenAt = t
	}
	s.mu.Unlock()
	if code != 0 {
		return nil, code
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(appid)
	if req.Command == "CancelTyping" {
		delete(a.Typing, req.ToUser)
		return ok(), cs.flush()
	}
	last := seenAt
	if t := a.LastOut[req.ToUser]; t.After(last) {
		last = t
	}
	if now.Sub(last) > typingRecent {
		return nil, 45080
	}
	if t, on := a.Typing[req.ToUser]; on && now.Sub(t) < typingTTL {
		return nil, 45081
	}
	a.Typing[req.ToUser] = now
	return ok(), cs.flush()
}
