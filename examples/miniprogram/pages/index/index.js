const app = getApp()

Page({
  data: {
    loading: true,
    error: '',
    expired: false,
    items: [],
    raw: ''
  },

  onLoad() {
    this.refresh()
  },

  onPullDownRefresh() {
    this.refresh().then(() => wx.stopPullDownRefresh())
  },

  refresh() {
    this.setData({ loading: true, error: '', expired: false })
    return app.loadConfig().then((config) => {
      const items = Object.keys(config).sort().map((key) => ({
        key,
        value: typeof config[key] === 'object' ? JSON.stringify(config[key]) : String(config[key])
      }))
      this.setData({ loading: false, items, raw: JSON.stringify(config, null, 2) })
    }).catch((err) => {
      // 402 subscription_expired: the merchant must renew; say so plainly.
      this.setData({ loading: false, error: err.message, expired: err.code === 'subscription_expired' })
    })
  }
})
