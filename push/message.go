package push

import (
	"bytes"
	"errors"
	"html"
	"strconv"
	"strings"
	"time"
)

// Message is a decrypted WeChat push: the children of its <xml> root, in
// order. Nested elements (ScanCodeInfo, info, ...) keep their inner XML as the
// value. It is a slice, not a map: pushes have a dozen fields and a linear
// scan is cheaper than hashing them on the ingest path.
type Message []Field

// Field is one element of a Message.
type Field struct {
	Name  string
	Value string
}

// Get returns the value of the first field called name, or "".
func (m Message) Get(name string) string {
	for _, f := range m {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Int returns the field as an integer, or 0.
func (m Message) Int(name string) int64 {
	n, _ := strconv.ParseInt(m.Get(name), 10, 64)
	return n
}

// Time returns a unix-seconds field as a time, or the zero time.
func (m Message) Time(name string) time.Time {
	n := m.Int(name)
	if n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

var errXML = errors.New("push: malformed XML")

// ParseMessage parses WeChat's flat XML: <xml><Name>text or CDATA</Name>...</xml>.
// It accepts CDATA and plain (entity-escaped) text alike, whitespace between
// elements, an XML declaration, and nested elements (kept verbatim).
func ParseMessage(doc []byte) (Message, error) {
	p := bytes.TrimSpace(doc)
	if bytes.HasPrefix(p, []byte("<?")) {
		i := bytes.Index(p, []byte("?>"))
		if i < 0 {
			return nil, errXML
		}
		p = bytes.TrimSpace(p[i+2:])
	}
	root, body, ok := element(p)
	if !ok || root != "xml" {
		return nil, errXML
	}
	msg := make(Message, 0, 12)
	for {
		body = bytes.TrimSpace(body)
		if len(body) == 0 {
			return msg, nil
		}
		name, inner, ok := element(body)
		if !ok {
			return nil, errXML
		}
		body = body[len(name)*2+5+len(inner):]
		msg = append(msg, Field{Name: name, Value: text(inner)})
	}
}

// element splits "<name>inner</name>rest" and returns name and inner; inner
// may contain CDATA sections and nested elements.
//
// It visits each byte of inner once: it steps from one '<' to the next and
// skips a CDATA section whole, so a closing tag inside one does not end the
// element. Searching for the closing tag anew after every CDATA section, as
// this once did, made a signed push of 55,000 sections cost 25 s of CPU.
func element(p []byte) (name string, inner []byte, ok bool) {
	if len(p) < 3 || p[0] != '<' {
		return "", nil, false
	}
	end := bytes.IndexByte(p, '>')
	if end < 2 {
		return "", nil, false
	}
	if p[end-1] == '/' { // <Empty/>
		return "", nil, false
	}
	name = string(p[1:end])
	if strings.ContainsAny(name, " \t\r\n\"'=/<") {
		return "", nil, false
	}
	rest := p[end+1:]
	closing := make([]byte, 0, len(name)+3)
	closing = append(append(append(closing, "</"...), name...), '>')
	for off := 0; ; {
		i := bytes.IndexByte(rest[off:], '<')
		if i < 0 {
			return "", nil, false
		}
		off += i
		switch at := rest[off:]; {
		case bytes.HasPrefix(at, closing):
			return name, rest[:off], true
		case bytes.HasPrefix(at, cdataOpen):
			e := bytes.Index(at[len(cdataOpen):], cdataClose)
			if e < 0 {
				return "", nil, false
			}
			off += len(cdataOpen) + e + len(cdataClose)
		default:
			off++
		}
	}
}

var (
	cdataOpen  = []byte("<![CDATA[")
	cdataClose = []byte("]]>")
)

// text returns the value of an element's content: CDATA sections unwrapped,
// entities in plain text decoded, surrounding whitespace of plain text dropped.
func text(inner []byte) string {
	t := bytes.TrimSpace(inner)
	if bytes.HasPrefix(t, cdataOpen) && bytes.HasSuffix(t, cdataClose) && bytes.Count(t, cdataOpen) == 1 {
		return string(t[9 : len(t)-3])
	}
	if bytes.IndexByte(t, '<') >= 0 {
		return string(inner) // nested elements or several CDATA parts: keep verbatim
	}
	if bytes.IndexByte(t, '&') >= 0 {
		return html.UnescapeString(string(t))
	}
	return string(t)
}
