package metrics

import "github.com/prometheus/client_golang/prometheus"

// Challenges count the human checks of registration (the captcha stage
// and the proof-of-work stage), by stage: offered in a 401, solved, and
// failed with a reason.
type Challenges struct {
	Issued *prometheus.CounterVec
	Solved *prometheus.CounterVec
	Failed *prometheus.CounterVec
}

// Reasons a challenge fails, the values of Failed's reason label.
const (
	ChallengeRefused     = "refused"     // the captcha provider said no
	ChallengeUnavailable = "unavailable" // the captcha provider could not be asked
	ChallengeWrong       = "wrong"       // the nonce does not solve the challenge
	ChallengeExpired     = "expired"
	ChallengeUsed        = "used"
	ChallengeForged      = "forged"
	ChallengeBusy        = "busy" // too many recent answers to remember
)

func newChallenges() Challenges {
	return Challenges{
		Issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_challenges_issued_total",
			Help: "Human checks offered in a registration 401 (captcha shown, proof-of-work challenge handed out), by UIA stage.",
		}, []string{"stage"}),
		Solved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_challenges_solved_total",
			Help: "Human checks answered correctly, by UIA stage.",
		}, []string{"stage"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_challenges_failed_total",
			Help: "Human checks answered wrongly or not checkable, by UIA stage and reason (refused, unavailable, wrong, expired, used, forged, busy).",
		}, []string{"stage", "reason"}),
	}
}

func (c Challenges) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.Issued, c.Solved, c.Failed}
}
