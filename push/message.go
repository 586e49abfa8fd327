package push

import (
	"bytes"
	"errors"
	"html"
	"strconv"
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
	if bytes.IndexAny([]byte(name), " \t\r\n\"'=/<") >= 0 {
		return "", nil, false
	}
	rest := p[end+1:]
	closing := "</" + name + ">"
	// Skip over CDATA sections so a closing tag inside one does not end the element.
	off := 0
	for {
		c := bytes.Index(rest[off:], []byte(closing))
		d := bytes.Index(rest[off:], []byte("<![CDATA["))
		if c < 0 {
			return "", nil, false
		}
		if d >= 0 && d < c {
			e := bytes.Index(rest[off+d:], []byte("]]>"))
			if e < 0 {
				return "", nil, false
			}
			off += d + e + 3
			continue
		}
		return name, rest[:off+c], true
	}
}

// text returns the value of an element's content: CDATA sections unwrapped,
// entities in plain text decoded, surrounding whitespace of plain text dropped.
func text(inner []byte) string {
	t := bytes.TrimSpace(inner)
	if bytes.HasPrefix(t, []byte("<![CDATA[")) && bytes.HasSuffix(t, []byte("]]>")) &&
		bytes.Count(t, []byte("<![CDATA[")) == 1 {
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
