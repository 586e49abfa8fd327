package wxfleet

import "time"

// Template is a code template (代码模板) of a platform's template library,
// as WeChat lists it, plus what the platform adds: the ext_json every
// authorizer's commit is rendered from, and notes for people.
type Template struct {
	ComponentAppID string
	TemplateID     int64 // WeChat's template_id
	DraftID        int64
	UserVersion    string
	UserDesc       string
	TemplateType   int       // 0 normal (普通模板), 1 standard (标准模板)
	CreateTime     time.Time // when WeChat made it a template
	// ExtJSON is the ext_json template: a JSON object whose string values may
	// hold ${appid} and ${settings.KEY} placeholders, rendered per authorizer.
	ExtJSON string
	// Policy is what the template's code needs set on every app: domains
	// and the privacy guide; nil manages nothing.
	Policy    *TemplatePolicy
	Notes     string
	SyncedAt  time.Time // last seen in WeChat's gettemplatelist
	DeletedAt time.Time // zero while the template exists on WeChat's side
}

// RolloutStatus is where a rollout stands.
type RolloutStatus string

// Rollout statuses.
const (
	RolloutPending   RolloutStatus = "pending"   // created, no app started yet
	RolloutRunning   RolloutStatus = "running"   // cohorts going out
	RolloutPaused    RolloutStatus = "paused"    // stopped by a person or by the failure limit; resumable
	RolloutCompleted RolloutStatus = "completed" // every app reached a final state
	RolloutCancelled RolloutStatus = "cancelled" // stopped for good by a person
	RolloutFailed    RolloutStatus = "failed"    // could not go on (the template vanished, say)
)

// Final tells whether the rollout can change no more.
func (s RolloutStatus) Final() bool {
	return s == RolloutCompleted || s == RolloutCancelled || s == RolloutFailed
}

// Valid tells whether s is one of the statuses above.
func (s RolloutStatus) Valid() bool {
	switch s {
	case RolloutPending, RolloutRunning, RolloutPaused, RolloutCompleted, RolloutCancelled, RolloutFailed:
		return true
	}
	return false
}

// AppState is where one mini program of a rollout stands.
type AppState string

// App states, in the order an app normally goes through them.
const (
	AppPending   AppState = "pending"   // not started
	AppCommitted AppState = "committed" // code uploaded as the 体验版
	AppAuditing  AppState = "auditing"  // submitted, waiting for WeChat's reviewers
	AppApproved  AppState = "approved"  // passed audit, waiting for release
	AppReleased  AppState = "released"  // online (fully, or in gray release at the rollout's percentage)
	AppRejected  AppState = "rejected"  // audit failed; Reason says why, in WeChat's words
	AppFailed    AppState = "failed"    // a step failed for good; LastError says why
	AppSkipped   AppState = "skipped"   // not attempted; Reason says why (revoked, no permission...)
	AppCancelled AppState = "cancelled" // the rollout was cancelled before the app finished
	// AppRolledBack: released, then rolled back (revertcoderelease or, for a
	// gray release, revertgrayrelease).
	AppRolledBack AppState = "rolled_back"
)

// Final tells whether the app's part of the rollout is over. An approved app
// of a manual-release rollout is not final: it waits for the release.
func (s AppState) Final() bool {
	switch s {
	case AppReleased, AppRejected, AppFailed, AppSkipped, AppCancelled, AppRolledBack:
		return true
	}
	return false
}

// Failure tells whether the state counts against the rollout's failure limit.
func (s AppState) Failure() bool { return s == AppRejected || s == AppFailed }

// AppStates lists every state, for counts and validation.
var AppStates = []AppState{AppPending, AppCommitted, AppAuditing, AppApproved, AppReleased, AppRejected, AppFailed, AppSkipped, AppCancelled, AppRolledBack}

// Release modes of a rollout.
const (
	ReleaseAuto   = "auto"   // release each app as soon as it is approved
	ReleaseManual = "manual" // wait for a person to release the approved apps
)

// RolloutTargets chooses the mini programs of a rollout: all authorized ones,
// a list of appids, or those carrying any of the tags.
type RolloutTargets struct {
	All    bool     `json:"all,omitempty"`
	AppIDs []string `json:"appids,omitempty"`
	Tags   []string `json:"tags,omitempty"`
}

// Rollout ships one template version to a fleet of mini programs: per app
// commit → submit_audit → audit → release, in cohorts of BatchSize.
type Rollout struct {
	ID              int64
	ComponentAppID  string
	TemplateID      int64
	UserVersion     string
	UserDesc        string
	Targets         RolloutTargets
	Release         string  // ReleaseAuto or ReleaseManual
	GrayPercentage  int     // 0: full release; 1-100: gray release at that percentage
	BatchSize       int     // apps per cohort
	MaxFailureRatio float64 // a cohort failing more than this pauses the rollout
	Status          RolloutStatus
	StatusReason    string // why it is paused or failed, for people
	Cohort          int    // the cohort going out now (0-based)
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// RolloutApp is one mini program's part in a rollout.
type RolloutApp struct {
	RolloutID   int64
	AppID       string
	Cohort      int
	State       AppState
	AuditID     int64
	Reason      string // rejection reason (WeChat's words) or why the app was skipped
	ScreenShot  string // rejection screenshots: |-separated media ids
	LastErrcode int
	LastError   string
	Attempts    int
	// CommitSentAt / SubmitSentAt are set, in the same transaction as the
	// job that makes the call, before the call: a crash after it leaves the
	// outcome unknown, and the next attempt asks WeChat instead of calling again.
	CommitSentAt time.Time
	SubmitSentAt time.Time
	UpdatedAt    time.Time
}
