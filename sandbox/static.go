package sandbox

import (
	"crypto/sha256"
	"fmt"
	"html"
	"net/http"
	"strings"
	"unicode/utf8"
)

// iconURL is an account's head_img: a generated SVG served by the sandbox.
func iconURL(base, appid string) string { return base + "/sandbox/static/icons/" + appid + ".svg" }

// qrcodeURL is an account's qrcode_url, and the simulated QR code on
// authorization pages: a QR-looking SVG derived from id. It encodes nothing.
func qrcodeURL(base, id string) string { return base + "/sandbox/static/qrcode/" + id + ".svg" }

// GET /sandbox/static/icons/{file}: a coloured rounded square with the first
// character of the account's nickname.
func (s *Sandbox) handleIcon(w http.ResponseWriter, r *http.Request) {
	appid, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	a := s.account(appid)
	if !ok || a == nil {
		http.NotFound(w, r)
		return
	}
	first, _ := utf8.DecodeRuneInString(a.Nickname)
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">`+
		`<rect width="132" height="132" rx="28" fill="%s"/>`+
		`<text x="66" y="66" dy=".35em" text-anchor="middle" fill="#fff" font-size="64" `+
		`font-family="PingFang SC, Hiragino Sans GB, Microsoft YaHei, Noto Sans CJK SC, sans-serif">%s</text></svg>`,
		html.EscapeString(a.Color), html.EscapeString(string(first)))
	writeSVG(w, svg)
}

// GET /sandbox/static/qrcode/{file}
func (s *Sandbox) handleQRCode(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !ok || id == "" {
		http.NotFound(w, r)
		return
	}
	writeSVG(w, fakeQRCode(id))
}

func writeSVG(w http.ResponseWriter, svg string) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write([]byte(svg))
}

// fakeQRCode draws a 25×25 module pattern with the three finder squares of a
// real QR code; the rest are bits of sha256(id), so each id looks different.
func fakeQRCode(id string) string {
	const n, cell = 25, 8
	var bits []byte
	for seed := sha256.Sum256([]byte(id)); len(bits)*8 < n*n; seed = sha256.Sum256(seed[:]) {
		bits = append(bits, seed[:]...)
	}
	finder := func(x, y int) (bool, bool) {
		for _, o := range [][2]int{{0, 0}, {n - 7, 0}, {0, n - 7}} {
			dx, dy := x-o[0], y-o[1]
			if dx >= -1 && dx <= 7 && dy >= -1 && dy <= 7 {
				if dx < 0 || dy < 0 || dx > 6 || dy > 6 {
					return true, false // the quiet ring around a finder
				}
				ring := dx == 0 || dy == 0 || dx == 6 || dy == 6
				core := dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4
				return true, ring || core
			}
		}
		return false, false
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges">`,
		(n+4)*cell, (n+4)*cell, (n+4)*cell, (n+4)*cell)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/><path fill="#111" d="`)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			on := false
			if inFinder, dark := finder(x, y); inFinder {
				on = dark
			} else {
				i := y*n + x
				on = bits[i/8]&(1<<(i%8)) != 0
			}
			if on {
				fmt.Fprintf(&b, "M%d %dh%dv%dh-%dz", (x+2)*cell, (y+2)*cell, cell, cell, cell)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
