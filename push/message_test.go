package push

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name, doc string
		want      map[string]string
		wantErr   bool
	}{
		{"cdata", `<xml><AppId><![CDATA[wxc]]></AppId><CreateTime>1413192605</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType></xml>`,
			map[string]string{"AppId": "wxc", "CreateTime": "1413192605", "InfoType": "component_verify_ticket"}, false},
		{"plain text and whitespace", "<?xml version=\"1.0\"?>\n<xml>\n  <AppId>wxc</AppId>\n  <Content>a &lt; b &amp; c</Content>\n</xml>\n",
			map[string]string{"AppId": "wxc", "Content": "a < b & c"}, false},
		{"closing tag inside cdata", `<xml><Content><![CDATA[</Content> x]]></Content><MsgId>1</MsgId></xml>`,
			map[string]string{"Content": "</Content> x", "MsgId": "1"}, false},
		{"nested kept verbatim", `<xml><info><name><![CDATA[n]]></name></info><status>0</status></xml>`,
			map[string]string{"info": "<name><![CDATA[n]]></name>", "status": "0"}, false},
		{"chinese", `<xml><Content><![CDATA[你好，世界]]></Content></xml>`, map[string]string{"Content": "你好，世界"}, false},
		{"not xml", `{"a":1}`, nil, true},
		{"wrong root", `<root><a>1</a></root>`, nil, true},
		{"unterminated", `<xml><a>1</xml>`, nil, true},
		{"unterminated cdata", `<xml><a><![CDATA[1</a></xml>`, nil, true},
		{"empty", ``, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tt.doc))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			for k, v := range tt.want {
				if got := m.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !tt.wantErr && len(m) != len(tt.want) {
				t.Errorf("got %d fields, want %d: %v", len(m), len(tt.want), m)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`<xml><a><![CDATA[x]]></a><b>2</b></xml>`))
	f.Add([]byte(`<xml><a><b>c</b></a></xml>`))
	// issue 16's attack, a tenth of its size: the full 55,000 sections
	// (715 KB) are in TestParseMessageManyCDATASections and the benchmark; as a seed the fuzzer
	// spends minutes mutating and minimising it, with little to learn.
	f.Add(manyCDATA(5_500))
	f.Add(manyFields(2_000))
	f.Add([]byte(`<xml><a><![CDATA[</a>]]><![CDATA[x]]></a><b>&lt;</b></xml>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _ = ParseMessage(doc)
	})
}

// manyCDATA is the attack of issue 16: a push whose Content is n CDATA
// sections in a row, followed by ordinary fields. Every section once made
// the parser search the rest of the document for the closing tag again.
func manyCDATA(n int) []byte {
	var b strings.Builder
	b.WriteString("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content>")
	for i := range n {
		fmt.Fprintf(&b, "<![CDATA[%d]]>", i%10)
	}
	b.WriteString("</Content><MsgId>7</MsgId></xml>")
	return []byte(b.String())
}

// manyFields is the same attack spread over n fields, each one CDATA.
func manyFields(n int) []byte {
	var b strings.Builder
	b.WriteString("<xml>")
	for i := range n {
		fmt.Fprintf(&b, "<F%d><![CDATA[v]]></F%d>", i%100, i%100)
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

func TestParseMessageManyCDATASections(t *testing.T) {
	doc := manyCDATA(55_000)
	m, err := ParseMessage(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m.Get("MsgId") != "7" || m.Get("ToUserName") != "gh_1" {
		t.Fatalf("fields: %d, MsgId %q", len(m), m.Get("MsgId"))
	}
	// Several sections are kept verbatim, as nested content is.
	if c := m.Get("Content"); strings.Count(c, "<![CDATA[") != 55_000 {
		t.Fatalf("Content kept %d sections", strings.Count(c, "<![CDATA["))
	}
	m, err = ParseMessage(manyFields(55_000))
	if err != nil || len(m) != 55_000 || m.Get("F99") != "v" {
		t.Fatalf("many fields: %d fields, %v", len(m), err)
	}
}

// go test -run '^$' -bench ParseMessage ./push/
func BenchmarkParseMessageManyCDATA(b *testing.B) {
	for _, n := range []int{5_500, 55_000} {
		doc := manyCDATA(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := ParseMessage(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseMessageTypical(b *testing.B) {
	doc := []byte(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>1234567890</MsgId></xml>`)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := ParseMessage(doc); err != nil {
			b.Fatal(err)
		}
	}
}
