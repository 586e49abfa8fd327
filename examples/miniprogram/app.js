// wxfleet's sample template mini program (模板小程序示例).
//
// One template serves every merchant: which merchant it runs for, and where
// its server is, come from ext_json, which the platform commits with each
// version and the page reads with wx.getExtConfigSync(). The page logs the
// user in through wxfleet's runtime API and reads the merchant's settings:
//
//   wx.login() → POST {api_base}/runtime/v1/login {"appid","code"} → {"token","expires_in"}
//   GET {api_base}/runtime/v1/config  (Authorization: Bearer <token>, If-None-Match) → settings, or 304
//
// The token is kept in storage; a 401 means it expired: log in again once.
// A 402 (code "subscription_expired") means the merchant's subscription ran
// out: show its message. Every error has {"code","message","message_en"}.

const TOKEN_KEY = 'wxfleet.runtime.token'
const CONFIG_KEY = 'wxfleet.runtime.config' // {etag, body}

App({
  // apiBase is the runtime API's base URL from ext_json's "ext".
  apiBase() {
    const ext = (wx.getExtConfigSync && wx.getExtConfigSync()) || {}
    return String(ext.api_base || '').replace(/\/+$/, '')
  },

  // appid is the mini program this copy of the template runs as: the merchant's.
  appid() {
    return wx.getAccountInfoSync().miniProgram.appId
  },

  // call sends one request to the runtime API and resolves with the
  // response ({statusCode, data, header}); it rejects only when the network fails.
  call(method, path, { data, header } = {}) {
    return new Promise((resolve, reject) => {
      wx.request({
        url: this.apiBase() + path,
        method,
        data,
        header: Object.assign({ 'content-type': 'application/json' }, header || {}),
        success: resolve,
        fail: (err) => reject(new Error('网络错误 / network error: ' + (err.errMsg || err)))
      })
    })
  },

  // login exchanges a fresh wx.login code for a runtime token and keeps it.
  login() {
    return new Promise((resolve, reject) => {
      wx.login({
        success: (res) => resolve(res.code),
        fail: (err) => reject(new Error('wx.login 失败 / wx.login failed: ' + err.errMsg))
      })
    }).then((code) => this.call('POST', '/runtime/v1/login', { data: { appid: this.appid(), code } }))
      .then((res) => {
        if (res.statusCode !== 200) throw apiError(res)
        wx.setStorageSync(TOKEN_KEY, res.data.token)
        return res.data.token
      })
  },

  // authed calls path with the stored token, logging in first when there is
  // none and once more when the server says the token is no longer good.
  authed(method, path, header, retried) {
    const token = wx.getStorageSync(TOKEN_KEY)
    const ready = token ? Promise.resolve(token) : this.login()
    return ready.then((tok) => this.call(method, path, {
      header: Object.assign({ Authorization: 'Bearer ' + tok }, header || {})
    })).then((res) => {
      if (res.statusCode === 401 && !retried) {
        wx.removeStorageSync(TOKEN_KEY)
        return this.authed(method, path, header, true)
      }
      return res
    })
  },

  // loadConfig resolves with the merchant's settings, asking the server
  // whether the copy kept from last time is still current (ETag).
  loadConfig() {
    const cached = wx.getStorageSync(CONFIG_KEY) || null
    const header = cached ? { 'If-None-Match': cached.etag } : {}
    return this.authed('GET', '/runtime/v1/config', header).then((res) => {
      if (res.statusCode === 304 && cached) return cached.body
      if (res.statusCode !== 200) throw apiError(res)
      const etag = res.header.ETag || res.header.Etag || res.header.etag
      if (etag) wx.setStorageSync(CONFIG_KEY, { etag, body: res.data })
      return res.data
    })
  }
})

// apiError makes an Error of the runtime API's error body.
function apiError(res) {
  const body = res.data || {}
  const err = new Error(body.message || ('HTTP ' + res.statusCode))
  err.code = body.code || String(res.statusCode)
  err.status = res.statusCode
  return err
}
