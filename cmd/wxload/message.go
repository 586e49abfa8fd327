package main

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// Credentials are the third-party platform (第三方平台) secrets a push is
// signed and encrypted with: its component appid is the receiveid.
type Credentials struct {
	ComponentAppID string
	Token          string // 消息校验Token
	AESKey         string // 消息加解密Key (EncodingAESKey, 43 characters)
}

// Test credentials shared by `wxload floor`, `wxload run` and `wxload compare`
// so that the first two work together without flags. They sign nothing real.
const (
	defaultComponentAppID = "wx10ad0000c0ffee01"
	defaultToken          = "wxloadtoken"
	defaultAESKey         = "d3hsb2FkLWxvYWQtdGVzdC1rZXktMzItYnl0ZXMhISE"
	defaultAppID          = "wx10ad0000000a9901" // the authorizer (mini program) the messages are for
)

func defaultCredentials() Credentials {
	return Credentials{ComponentAppID: defaultComponentAppID, Token: defaultToken, AESKey: defaultAESKey}
}

// Generator builds distinct user text messages (MsgType text) as WeChat pushes
// them to a platform's message URL: query signature, timestamp, nonce,
// openid, encrypt_type=aes, msg_signature, and the body
// <xml><ToUserName/><Encrypt/></xml>. It is safe for concurrent use.
type Generator struct {
	crypter *wxcrypt.Crypter
	apps    []genApp // the mini programs messages go to, each as likely
	now     func() time.Time
	seed    uint64
	baseID  uint64        // MsgIds are baseID + index: unique within a run, and across runs with high probability
	next    atomic.Uint64 // next message index
	openids []string
}

// numOpenIDs is how many distinct users send the messages.
const numOpenIDs = 997

// genApp is a mini program messages go to.
type genApp struct {
	appID string
	ghID  string // ToUserName: the mini program's original id (原始ID)
}

// NewGenerator returns a generator for messages to authorizer appID.
func NewGenerator(creds Credentials, appID string, now func() time.Time) (*Generator, error) {
	return NewGeneratorApps(creds, []string{appID}, now)
}

// NewGeneratorApps returns a generator for messages to several authorizers,
// each message to one picked at random. With more than one, a message's
// query string starts with its appid and "?" (see Target.PerMessageApp).
func NewGeneratorApps(creds Credentials, appIDs []string, now func() time.Time) (*Generator, error) {
	if len(appIDs) == 0 {
		return nil, errors.New("wxload: no appid to send messages to")
	}
	c, err := wxcrypt.New(creds.Token, creds.AESKey, creds.ComponentAppID)
	if err != nil {
		return nil, err
	}
	var apps []genApp
	for _, id := range appIDs {
		sum := sha1.Sum([]byte(id))
		apps = append(apps, genApp{appID: id, ghID: "gh_" + hex.EncodeToString(sum[:6])})
	}
	g := &Generator{
		crypter: c,
		apps:    apps,
		now:     now,
		seed:    rand.Uint64(),
		// 17 digits like WeChat's MsgIds (e.g. 23637352235060880); the random
		// start keeps separate runs against one database from colliding.
		baseID: 10_000_000_000_000_000 + rand.Uint64N(80_000_000_000_000_000),
	}
	r := rand.New(rand.NewPCG(g.seed, 0))
	const openidChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for range numOpenIDs {
		var b [28]byte
		b[0] = 'o' // mini program openids start with 'o' and are 28 characters
		for i := 1; i < len(b); i++ {
			b[i] = openidChars[r.IntN(len(openidChars))]
		}
		g.openids = append(g.openids, string(b[:]))
	}
	return g, nil
}

// reserve claims n consecutive message indexes and returns the first.
func (g *Generator) reserve(n int) uint64 { return g.next.Add(uint64(n)) - uint64(n) }

// appendMessage appends message i's query string and body to q and body, and
// returns the size of its plaintext XML.
func (g *Generator) appendMessage(q *strings.Builder, body []byte, i uint64, ts string) ([]byte, int) {
	r := rand.New(rand.NewPCG(g.seed, i+1))
	nonce := strconv.FormatUint(1_000_000_000+r.Uint64N(9_000_000_000), 10)
	openid := g.openids[r.IntN(len(g.openids))]
	app := g.apps[0]
	if len(g.apps) > 1 {
		app = g.apps[r.IntN(len(g.apps))]
		q.WriteString(app.appID)
		q.WriteByte('?')
	}

	var plain strings.Builder
	plain.Grow(640)
	plain.WriteString("<xml><ToUserName><![CDATA[")
	plain.WriteString(app.ghID)
	plain.WriteString("]]></ToUserName><FromUserName><![CDATA[")
	plain.WriteString(openid)
	plain.WriteString("]]></FromUserName><CreateTime>")
	plain.WriteString(ts)
	plain.WriteString("</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[")
	writeContent(&plain, r)
	plain.WriteString("]]></Content><MsgId>")
	plain.WriteString(strconv.FormatUint(g.baseID+i, 10))
	plain.WriteString("</MsgId></xml>")

	// The random prefix comes from the message's own generator rather than
	// crypto/rand: it needs no secrecy here and keeps generation cheap.
	var prefix [16]byte
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for k := range prefix {
		prefix[k] = alnum[r.IntN(len(alnum))]
	}
	encrypt := g.crypter.EncryptWithRandom(prefix, []byte(plain.String()))

	q.WriteString("signature=")
	q.WriteString(g.crypter.PlainSignature(ts, nonce))
	q.WriteString("&timestamp=")
	q.WriteString(ts)
	q.WriteString("&nonce=")
	q.WriteString(nonce)
	q.WriteString("&openid=")
	q.WriteString(openid)
	q.WriteString("&encrypt_type=aes&msg_signature=")
	q.WriteString(g.crypter.MsgSignature(ts, nonce, encrypt))
	return append(body, wxcrypt.MessageEnvelope(app.ghID, encrypt)...), plain.Len()
}

// Message builds one message on the spot (used by warm-ups, which are not
// measured).
func (g *Generator) Message() (query string, body []byte) {
	var q strings.Builder
	body, _ = g.appendMessage(&q, nil, g.reserve(1), strconv.FormatInt(g.now().Unix(), 10))
	return q.String(), body
}

// Content is what users type to a mini program's customer service: Chinese,
// English, or both, with the odd emoji. None contains "]]>".
var (
	zhPhrases = []string{
		"你好，请问我昨天下的订单什么时候发货？", "订单号是 20240615123456789，麻烦帮我查一下物流。",
		"收货地址填错了，能改成上海市浦东新区张江路 88 号吗？", "这款蓝色的还有 M 码吗？", "谢谢！",
		"我想申请退款，商品有破损，照片已经拍好了。", "优惠券为什么用不了？页面提示不满足使用条件。",
		"可以开发票吗？公司抬头是杭州某某科技有限公司。", "会员积分什么时候到账？", "好的，明白了 👍",
		"小程序一直显示加载中，换了网络也不行。", "请问周末客服在线吗？", "我已经付款了，但是订单状态还是待支付。",
		"能不能再便宜一点？买两件有优惠吗？", "预约的时间想改到下周三下午三点。", "收到了，质量很好，下次还来 😊",
	}
	enPhrases = []string{
		"Hi, when will my order ship?", "The tracking number doesn't show any updates since Monday.",
		"Can I change the delivery address to 88 Zhangjiang Road, Pudong, Shanghai?", "Is the blue one still in stock in size M?",
		"Thanks a lot!", "I'd like a refund, the item arrived damaged.", "Why can't I use my coupon at checkout?",
		"Could you send me an invoice for my company?", "The mini program keeps loading forever.", "OK, got it.",
		"Do you deliver to Hong Kong?", "Please reschedule my appointment to Wednesday 3pm.",
	}
)

// Content sizes in bytes (UTF-8): realistic customer-service messages.
const (
	minContent = 150
	maxContent = 300
)

func writeContent(b *strings.Builder, r *rand.Rand) {
	target := minContent + r.IntN(maxContent-minContent+1)
	lang := r.IntN(3) // 0 Chinese, 1 English, 2 mixed
	var c strings.Builder
	for c.Len() < target {
		var p string
		switch {
		case lang == 0 || (lang == 2 && r.IntN(2) == 0):
			p = zhPhrases[r.IntN(len(zhPhrases))]
		default:
			p = enPhrases[r.IntN(len(enPhrases))]
			if c.Len() > 0 {
				c.WriteByte(' ')
			}
		}
		c.WriteString(p)
	}
	s := c.String()
	if len(s) > maxContent {
		s = s[:maxContent]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	b.WriteString(s)
}

// Pool holds messages generated before a timed run, so that the measured
// server's throughput is not limited by the generator's own crypto. Messages
// live in a few large arenas (no pointers per message), cheap for the GC.
type Pool struct {
	chunks     []*poolChunk
	n          int
	taken      atomic.Int64
	PlainBytes int64         // total plaintext XML size
	BodyBytes  int64         // total request body size
	Took       time.Duration // time spent generating
}

type poolChunk struct {
	queries string
	qEnd    []uint32
	bodies  []byte
	bEnd    []uint32
}

const poolChunkSize = 4096

// Pool generates n distinct messages, using every CPU, all stamped with the
// current time.
func (g *Generator) Pool(n int) *Pool {
	start := time.Now()
	p := &Pool{n: n, chunks: make([]*poolChunk, (n+poolChunkSize-1)/poolChunkSize)}
	first := g.reserve(n)
	ts := strconv.FormatInt(g.now().Unix(), 10)
	var nextChunk atomic.Int64
	var plainBytes, bodyBytes atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				ci := int(nextChunk.Add(1) - 1)
				if ci >= len(p.chunks) {
					return
				}
				size := min(poolChunkSize, n-ci*poolChunkSize)
				c := &poolChunk{qEnd: make([]uint32, size), bEnd: make([]uint32, size), bodies: make([]byte, 0, size*900)}
				var q strings.Builder
				q.Grow(size * 200)
				var plain int
				for j := range size {
					var pl int
					c.bodies, pl = g.appendMessage(&q, c.bodies, first+uint64(ci*poolChunkSize+j), ts)
					plain += pl
					c.qEnd[j], c.bEnd[j] = uint32(q.Len()), uint32(len(c.bodies))
				}
				c.queries = q.String()
				p.chunks[ci] = c
				plainBytes.Add(int64(plain))
				bodyBytes.Add(int64(len(c.bodies)))
			}
		})
	}
	wg.Wait()
	p.PlainBytes, p.BodyBytes, p.Took = plainBytes.Load(), bodyBytes.Load(), time.Since(start)
	return p
}

// Len is the number of messages in the pool.
func (p *Pool) Len() int { return p.n }

// Get returns message i.
func (p *Pool) Get(i int) (query string, body []byte) {
	c, j := p.chunks[i/poolChunkSize], i%poolChunkSize
	var qs, bs uint32
	if j > 0 {
		qs, bs = c.qEnd[j-1], c.bEnd[j-1]
	}
	return c.queries[qs:c.qEnd[j]], c.bodies[bs:c.bEnd[j]:c.bEnd[j]]
}

// source hands workers their next message; ok is false when there is none.
type source interface {
	next() (query string, body []byte, ok bool)
}

// next takes the pool's next unused message.
func (p *Pool) next() (string, []byte, bool) {
	i := p.taken.Add(1) - 1
	if i >= int64(p.n) {
		return "", nil, false
	}
	q, b := p.Get(int(i))
	return q, b, true
}

// Used is how many messages were taken.
func (p *Pool) Used() int { return int(min(p.taken.Load(), int64(p.n))) }

// live generates each message when it is needed: for warm-ups only.
type live struct{ g *Generator }

func (l live) next() (string, []byte, bool) {
	q, b := l.g.Message()
	return q, b, true
}
