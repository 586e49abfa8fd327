package sandbox

// The accounts every fresh sandbox starts with. Their appids and gh_ ids were
// derived once from sha256("wxfleet-sandbox/appid/<key>") and
// sha256("wxfleet-sandbox/gh/<key>") and are fixed here so that tests, demos
// and documentation can name them.
const (
	AppBakery    = "wx6ed11edf8b6f9016" // 麦香坊烘焙, mini program
	AppHotPot    = "wxda2da57ec54afa26" // 蜀味老灶火锅, mini program
	AppBookshop  = "wxc7eb4d4ca5e05ca0" // 拾光书店, mini program
	AppFitness   = "wx5a3da2fb49099ae7" // 燃动健身工作室, mini program
	AppFlorist   = "wxc6cde46c7a233b7d" // 花间集鲜花, mini program
	AppTeaHouse  = "wx2986d50b3a17f207" // 云栖茶舍, mini program
	AppNoodles   = "wx88a4f15ee901481f" // 老街牛肉面, mini program
	AppLifeOA    = "wx25bddb1146f50c1a" // 西湖生活服务, official account (服务号)
	AppCommunity = "wx9eba1bb3be7f09bf" // 城南社区便民服务, official account (服务号)

	// TestOfficialAccount and TestMiniProgram are WeChat's own 全网发布
	// (full-network release) test accounts. They never appear on authorization
	// pages or in GET /sandbox/api/apps; the release check authorizes them.
	TestOfficialAccount = "wx570bc396a51b8ff8" // user_name gh_3c884a361561
	TestMiniProgram     = "wxd101a85aa106f53e" // user_name gh_8dad206e9538
)

// category is a mini program service category (服务类目), first and second level.
type category struct {
	First  string `json:"first"`
	Second string `json:"second"`
}

// account is an official account (公众号) or mini program (小程序) that exists
// on the emulated WeChat, whether or not it authorized anyone.
type account struct {
	AppID         string     `json:"appid"`
	UserName      string     `json:"user_name"` // original id, gh_...
	Nickname      string     `json:"nickname"`
	Alias         string     `json:"alias"`
	Signature     string     `json:"signature"`
	PrincipalName string     `json:"principal_name"` // 主体名称
	MiniProgram   bool       `json:"mini_program"`
	ServiceType   int        `json:"service_type"` // 2 服务号 for official accounts, 0 for mini programs
	VerifyType    int        `json:"verify_type"`  // 0 WeChat-verified, -1 unverified
	Categories    []category `json:"categories,omitempty"`
	Color         string     `json:"color"` // icon background
	Hidden        bool       `json:"hidden,omitempty"`
	// Bulk marks an account made by POST /sandbox/api/apps/bulk: listed and
	// usable like any other, but not offered on authorization pages (a
	// page with 100,000 radio buttons helps nobody) unless biz_appid names it.
	Bulk bool  `json:"bulk,omitempty"`
	Seq  int64 `json:"seq"` // listing order
}

func seedAccounts() []*account {
	mini := func(appid, gh, nick, alias, sig, principal, color string, cats ...category) *account {
		return &account{AppID: appid, UserName: gh, Nickname: nick, Alias: alias, Signature: sig,
			PrincipalName: principal, MiniProgram: true, Categories: cats, Color: color}
	}
	oa := func(appid, gh, nick, alias, sig, principal, color string) *account {
		return &account{AppID: appid, UserName: gh, Nickname: nick, Alias: alias, Signature: sig,
			PrincipalName: principal, ServiceType: 2, Color: color}
	}
	return []*account{
		mini(AppBakery, "gh_8811d1215c4a", "麦香坊烘焙", "maixiangfang", "每日现烤，欧包吐司与生日蛋糕，同城两小时送达。",
			"杭州麦香坊食品有限公司", "#d9822b", category{"餐饮", "烘焙甜品"}, category{"餐饮", "点餐平台"}),
		mini(AppHotPot, "gh_e14eaac57279", "蜀味老灶火锅", "shuweilaozao", "牛油老灶，鲜切毛肚。线上排队、预订与外卖。",
			"成都蜀味老灶餐饮管理有限公司", "#c0392b", category{"餐饮", "火锅"}, category{"餐饮", "外卖平台"}),
		mini(AppBookshop, "gh_1e58f26e93d4", "拾光书店", "shiguangbooks", "独立书店，新书、旧书与每周读书会。",
			"南京拾光文化传播有限公司", "#2e7d5b", category{"商家自营", "图书报刊"}),
		mini(AppFitness, "gh_4c400666ea35", "燃动健身工作室", "randongfit", "私教、团课与体测预约，练得明白。",
			"深圳燃动体育发展有限公司", "#e4572e", category{"体育", "健身"}),
		mini(AppFlorist, "gh_61d4030f2454", "花间集鲜花", "huajianji", "云南直采鲜花，节日花束与每周订花。",
			"上海花间集园艺有限公司", "#c2185b", category{"商家自营", "鲜花园艺"}),
		mini(AppTeaHouse, "gh_171cca92d2f2", "云栖茶舍", "yunqitea", "龙井与白茶，茶室包间预约、茶叶到家。",
			"杭州云栖茶业有限公司", "#5b8c3a", category{"餐饮", "茶饮"}, category{"商家自营", "食品饮料"}),
		mini(AppNoodles, "gh_efa473d1e55b", "老街牛肉面", "laojieniurou", "一清二白三红四绿，扫码点单不排队。",
			"兰州老街餐饮管理有限公司", "#b8860b", category{"餐饮", "快餐"}),
		oa(AppLifeOA, "gh_eabe3e414925", "西湖生活服务", "xihulife", "吃喝玩乐与便民服务，每天一条西湖边的生活消息。",
			"杭州西湖数字生活服务有限公司", "#1565c0"),
		oa(AppCommunity, "gh_003af777628d", "城南社区便民服务", "chengnanshequ", "社区通知、报修与预约办事。",
			"苏州城南物业服务有限公司", "#6a1b9a"),
		{AppID: TestOfficialAccount, UserName: "gh_3c884a361561", Nickname: "全网发布测试公众号", Alias: "",
			Signature: "第三方平台全网发布自动化测试帐号", PrincipalName: "深圳市腾讯计算机系统有限公司",
			ServiceType: 2, Color: "#07c160", Hidden: true},
		{AppID: TestMiniProgram, UserName: "gh_8dad206e9538", Nickname: "全网发布测试小程序", Alias: "",
			Signature: "第三方平台全网发布自动化测试帐号", PrincipalName: "深圳市腾讯计算机系统有限公司",
			MiniProgram: true, Categories: []category{{"工具", "效率"}}, Color: "#07c160", Hidden: true},
	}
}

// funcSet is a permission set (权限集) an authorizer grants, by funcscope_category id.
type funcSet struct {
	ID   int
	Name string
}

// funcSetsFor returns the permission sets offered on authorization pages for
// one account type. Ids and names follow WeChat's published list; the sandbox
// offers a representative subset per type and grants all of them unless the
// admin unticks some. A function, not a package variable, so nothing can
// mutate the table.
func funcSetsFor(miniProgram bool) []funcSet {
	if miniProgram {
		return []funcSet{
			{17, "帐号管理权限（小程序）"}, {18, "开发管理与数据分析权限（小程序）"}, {19, "客服消息管理权限（小程序）"},
			{25, "开放平台帐号管理权限（小程序）"}, {30, "小程序基本信息设置权限"},
		}
	}
	return []funcSet{
		{1, "消息管理权限"}, {2, "用户管理权限"}, {3, "帐号服务权限"}, {4, "网页服务权限"},
		{7, "群发与通知权限"}, {8, "微信卡券权限"}, {10, "微信连WiFi权限"}, {11, "素材管理权限"}, {15, "自定义菜单权限"}, {24, "开放平台帐号管理权限"},
	}
}

// Permission sets that message/custom/send needs: 消息管理 for official accounts,
// 客服消息管理 for mini programs.
const (
	funcOfficialMessages = 1
	funcMiniCustomerCare = 19
)

func funcIDs(sets []funcSet) []int {
	ids := make([]int, len(sets))
	for i, f := range sets {
		ids[i] = f.ID
	}
	return ids
}
