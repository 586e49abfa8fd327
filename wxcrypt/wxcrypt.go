// Package wxcrypt implements WeChat's message crypto (WXBizMsgCrypt): SHA-1
// signatures over sorted strings, AES-256-CBC with the key's first 16 bytes as
// IV and PKCS#7 padding to 32-byte blocks, the plaintext layout
// random(16) | length(4, big-endian) | message | receiveid, and the XML
// envelopes pushes and replies travel in.
//
// It is the only package the platform and the sandbox share.
package wxcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Steps at which opening a message can fail. Error.Step carries one of them so
// that a log line can say what went wrong without printing any secret.
const (
	StepEnvelope  = "envelope"  // the body has no <Encrypt> element
	StepSignature = "signature" // msg_signature does not match
	StepBase64    = "base64"    // <Encrypt> is not standard base64
	StepPadding   = "padding"   // ciphertext or PKCS#7 padding is malformed
	StepLength    = "length"    // the 4-byte length does not fit the plaintext
	StepAppID     = "appid"     // receiveid is not our appid
)

// Error is a failure to open a message, tagged with the step that failed.
type Error struct {
	Step   string
	Detail string
}

func (e *Error) Error() string { return "wxcrypt: " + e.Step + ": " + e.Detail }

// KeySize is the size of the AES-256 key decoded from an EncodingAESKey.
const KeySize = 32

// blockPad is WeChat's padding block: 32 bytes, not AES's 16.
const blockPad = 32

// Crypter signs, encrypts and decrypts for one (token, EncodingAESKey, appid).
// It is safe for concurrent use.
type Crypter struct {
	token string
	appID string
	key   []byte
	block cipher.Block
}

// DecodeAESKey turns a 43-character EncodingAESKey into the 32-byte AES key.
func DecodeAESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wxcrypt: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("wxcrypt: EncodingAESKey is not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("wxcrypt: EncodingAESKey decodes to %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// New returns a Crypter. appID is the receiveid written into and expected in
// every plaintext: for third-party platforms, the component appid.
func New(token, encodingAESKey, appID string) (*Crypter, error) {
	if token == "" {
		return nil, errors.New("wxcrypt: token is empty")
	}
	key, err := DecodeAESKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &Crypter{token: token, appID: appID, key: key, block: block}, nil
}

// AppID returns the receiveid this Crypter writes and expects.
func (c *Crypter) AppID() string { return c.appID }

// Sign returns WeChat's SHA-1 signature of parts: sorted, concatenated, hex.
func Sign(parts ...string) string {
	sorted := make([]string, len(parts))
	copy(sorted, parts)
	sort.Strings(sorted)
	h := sha1.New()
	for _, p := range sorted {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// PlainSignature is the `signature` query parameter: over token, timestamp, nonce.
func (c *Crypter) PlainSignature(timestamp, nonce string) string {
	return Sign(c.token, timestamp, nonce)
}

// MsgSignature is the `msg_signature`: over token, timestamp, nonce and the
// base64 ciphertext exactly as it appears in <Encrypt>.
func (c *Crypter) MsgSignature(timestamp, nonce, encrypt string) string {
	return Sign(c.token, timestamp, nonce, encrypt)
}

// VerifyPlain checks a `signature` in constant time.
func (c *Crypter) VerifyPlain(signature, timestamp, nonce string) bool {
	return equalHex(signature, c.PlainSignature(timestamp, nonce))
}

// VerifyMsg checks a `msg_signature` in constant time.
func (c *Crypter) VerifyMsg(msgSignature, timestamp, nonce, encrypt string) bool {
	return equalHex(msgSignature, c.MsgSignature(timestamp, nonce, encrypt))
}

func equalHex(got, want string) bool {
	// WeChat sends lowercase hex; accept uppercase too.
	if len(got) != len(want) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}

// Encrypt encrypts msg with a fresh random prefix and returns the base64 text
// that goes into <Encrypt>.
func (c *Crypter) Encrypt(msg []byte) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	// SDKs use 16 alphanumeric characters; keep the prefix printable like theirs.
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range random {
		random[i] = alnum[int(random[i])%len(alnum)]
	}
	return c.EncryptWithRandom(random, msg), nil
}

// EncryptWithRandom encrypts msg with the given 16-byte prefix; tests use it
// to reproduce known ciphertexts.
func (c *Crypter) EncryptWithRandom(random [16]byte, msg []byte) string {
	n := 16 + 4 + len(msg) + len(c.appID)
	pad := blockPad - n%blockPad
	buf := make([]byte, n+pad)
	copy(buf, random[:])
	binary.BigEndian.PutUint32(buf[16:20], uint32(len(msg)))
	copy(buf[20:], msg)
	copy(buf[20+len(msg):], c.appID)
	for i := n; i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// Decrypt opens the base64 text of <Encrypt> and returns the message and the
// receiveid found in it. It does not compare the receiveid; Open does.
func (c *Crypter) Decrypt(encrypt string) (msg []byte, receiveID string, err error) {
	// Room for the unpadded form too: StdEncoding.DecodedLen rounds down for
	// lengths that are not a multiple of 4, and Decode panics on a short dst.
	buf := make([]byte, base64.RawStdEncoding.DecodedLen(len(encrypt))+3)
	n, err := base64.StdEncoding.Decode(buf, []byte(encrypt))
	if err != nil {
		// Some senders drop the trailing '='; accept that too.
		n, err = base64.RawStdEncoding.Decode(buf, []byte(strings.TrimRight(encrypt, "=")))
		if err != nil {
			return nil, "", &Error{StepBase64, "ciphertext is not base64"}
		}
	}
	buf = buf[:n]
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, "", &Error{StepPadding, fmt.Sprintf("ciphertext length %d is not a multiple of %d", len(buf), aes.BlockSize)}
	}
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(buf, buf)
	pad := int(buf[len(buf)-1])
	if pad < 1 || pad > blockPad || pad > len(buf) {
		return nil, "", &Error{StepPadding, fmt.Sprintf("padding byte %d out of range (wrong key?)", pad)}
	}
	buf = buf[:len(buf)-pad]
	if len(buf) < 20 {
		return nil, "", &Error{StepLength, "plaintext shorter than its 20-byte header"}
	}
	size := binary.BigEndian.Uint32(buf[16:20])
	if uint64(size) > uint64(len(buf)-20) {
		return nil, "", &Error{StepLength, fmt.Sprintf("message length %d exceeds the %d bytes present (wrong key?)", size, len(buf)-20)}
	}
	end := 20 + int(size)
	return buf[20:end:end], string(buf[end:]), nil
}

// Open verifies msg_signature, decrypts, and checks that the receiveid is this
// Crypter's appid. Every failure is an *Error naming its step.
func (c *Crypter) Open(msgSignature, timestamp, nonce, encrypt string) ([]byte, error) {
	if !c.VerifyMsg(msgSignature, timestamp, nonce, encrypt) {
		return nil, &Error{StepSignature, "msg_signature does not match"}
	}
	msg, receiveID, err := c.Decrypt(encrypt)
	if err != nil {
		return nil, err
	}
	if receiveID != c.appID {
		return nil, &Error{StepAppID, fmt.Sprintf("message is for appid %q, not %q", receiveID, c.appID)}
	}
	return msg, nil
}

// Seal encrypts msg and returns the <Encrypt> text with its msg_signature, for
// a push or a reply stamped with timestamp and nonce.
func (c *Crypter) Seal(msg []byte, timestamp, nonce string) (encrypt, msgSignature string, err error) {
	encrypt, err = c.Encrypt(msg)
	if err != nil {
		return "", "", err
	}
	return encrypt, c.MsgSignature(timestamp, nonce, encrypt), nil
}

// ReplyEnvelope builds the encrypted passive reply WeChat expects from the
// message URL: <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>.
func (c *Crypter) ReplyEnvelope(msg []byte, timestamp int64, nonce string) ([]byte, error) {
	ts := strconv.FormatInt(timestamp, 10)
	encrypt, sig, err := c.Seal(msg, ts, nonce)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("<xml>\n<Encrypt><![CDATA[")
	b.WriteString(encrypt)
	b.WriteString("]]></Encrypt>\n<MsgSignature><![CDATA[")
	b.WriteString(sig)
	b.WriteString("]]></MsgSignature>\n<TimeStamp>")
	b.WriteString(ts)
	b.WriteString("</TimeStamp>\n<Nonce><![CDATA[")
	b.WriteString(nonce)
	b.WriteString("]]></Nonce>\n</xml>")
	return b.Bytes(), nil
}

// ComponentEnvelope is the body WeChat posts to the authorization event URL:
// <xml><AppId/><Encrypt/></xml>.
func ComponentEnvelope(appID, encrypt string) []byte {
	return []byte("<xml>\n<AppId><![CDATA[" + appID + "]]></AppId>\n<Encrypt><![CDATA[" + encrypt + "]]></Encrypt>\n</xml>")
}

// MessageEnvelope is the body WeChat posts to the message URL:
// <xml><ToUserName/><Encrypt/></xml>.
func MessageEnvelope(toUserName, encrypt string) []byte {
	return []byte("<xml>\n<ToUserName><![CDATA[" + toUserName + "]]></ToUserName>\n<Encrypt><![CDATA[" + encrypt + "]]></Encrypt>\n</xml>")
}

// Envelope is what a receiver reads from an encrypted push body.
type Envelope struct {
	AppID      string // present on the authorization event URL
	ToUserName string // present on the message URL
	Encrypt    string
}

// ParseEnvelope reads an encrypted push body. It accepts the XML forms (with
// or without CDATA) and the JSON form {"ToUserName":..,"Encrypt":..} that
// self-managed mini programs may choose.
func ParseEnvelope(body []byte) (Envelope, error) {
	var env Envelope
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		env.Encrypt = jsonString(trimmed, "Encrypt")
		env.ToUserName = jsonString(trimmed, "ToUserName")
		env.AppID = jsonString(trimmed, "AppId")
	} else {
		env.Encrypt = string(XMLField(trimmed, "Encrypt"))
		env.AppID = string(XMLField(trimmed, "AppId"))
		env.ToUserName = string(XMLField(trimmed, "ToUserName"))
	}
	if env.Encrypt == "" {
		return env, &Error{StepEnvelope, "body has no Encrypt element"}
	}
	return env, nil
}

// XMLField returns the text of the first element named name in a flat XML
// document such as WeChat's pushes, unwrapping CDATA. It returns nil when the
// element is absent. Entities in non-CDATA text are not decoded; callers that
// need exact text of arbitrary fields should use encoding/xml.
func XMLField(doc []byte, name string) []byte {
	open := "<" + name + ">"
	i := bytes.Index(doc, []byte(open))
	if i < 0 {
		return nil
	}
	rest := doc[i+len(open):]
	j := bytes.Index(rest, []byte("</"+name+">"))
	if j < 0 {
		return nil
	}
	v := bytes.TrimSpace(rest[:j])
	if bytes.HasPrefix(v, []byte("<![CDATA[")) && bytes.HasSuffix(v, []byte("]]>")) {
		v = v[len("<![CDATA[") : len(v)-len("]]>")]
	}
	return v
}

// jsonString extracts a top-level string value from a small JSON object
// without a full decode; base64 and appids need no unescaping.
func jsonString(doc []byte, key string) string {
	k := []byte(`"` + key + `"`)
	i := bytes.Index(doc, k)
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(doc[i+len(k):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	rest = rest[1:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return strings.ReplaceAll(string(rest[:j]), `\/`, `/`)
}
