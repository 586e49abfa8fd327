package wxfleet

import "time"

// Card review states, as WeChat's card_pass_check / card_not_pass_check
// pushes set them.
const (
	CardPending  = "pending"  // created, review under way
	CardApproved = "approved" // card_pass_check
	CardRejected = "rejected" // card_not_pass_check, with WeChat's RefuseReason
)

// Card is a card or coupon class (卡券: 会员卡, 优惠券, …) the platform created
// for an official account, with its review and how many codes users hold.
type Card struct {
	ComponentAppID string
	AppID          string
	CardID         string
	TenantID       int64 // the merchant it was made for; 0 for none
	CardType       string
	Title          string
	ReviewStatus   string
	RefuseReason   string // WeChat's words, as pushed
	ReviewedAt     time.Time
	CreatedAt      time.Time
	Issued         int // codes users received (user_get_card)
	Redeemed       int // codes consumed (核销)
}
