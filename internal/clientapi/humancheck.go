package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
	"foyer/internal/metrics"
	"foyer/internal/proofofwork"
)

// The human checks of registration: the captcha stage (a third-party
// provider, internal/captcha) and the proof-of-work stage (Foyer's own,
// internal/proofofwork). User registration may ask for the captcha
// (registration_require_captcha); guest registration and guest-link
// redemption may ask for either or both (guest_access.require_captcha,
// guest_access.proof_of_work).

// guestFlows are the UIA flows of guest registration and guest-link
// redemption, and their stages' params; no flows: no check, the request
// is served at once as the spec has it.
func (a *API) guestFlows() ([][]string, map[string]any) {
	var stages []string
	var params map[string]any
	if a.Config.GuestAccess.RequireCaptcha && a.Captcha != nil {
		stages = append(stages, accounts.StageRecaptcha)
		params = map[string]any{accounts.StageRecaptcha: map[string]string{"public_key": a.Captcha.SiteKey()}}
	}
	if a.proofOfWork != nil {
		stages = append(stages, accounts.StageProofOfWork)
	}
	if len(stages) == 0 {
		return nil, nil
	}
	return [][]string{stages}, params
}

// offerChallenges completes a 401 before it is sent: a fresh
// proof-of-work challenge when that stage is still to do, and the count
// of checks offered.
func (a *API) offerChallenges(c *accounts.Challenge) {
	offered := map[string]bool{}
	for _, f := range c.Flows {
		for _, st := range f.Stages {
			if !slices.Contains(c.Completed, st) {
				offered[st] = true
			}
		}
	}
	if offered[accounts.StageRecaptcha] {
		a.Metrics.Challenges.Issued.WithLabelValues(accounts.StageRecaptcha).Inc()
	}
	if offered[accounts.StageProofOfWork] && a.proofOfWork != nil {
		ch := a.proofOfWork.Issue()
		// Run gives every challenge a params map of its own (guestFlows
		// makes a new one per request), so it can take the challenge.
		c.Params[accounts.StageProofOfWork] = map[string]any{
			"algorithm": "sha256", "challenge": ch.Token, "bits": ch.Bits, "expires_at": ch.ExpiresAt,
		}
		a.Metrics.Challenges.Issued.WithLabelValues(accounts.StageProofOfWork).Inc()
	}
}

// verifyHumanCheck completes the captcha or proof-of-work stage; handled
// is false for another stage.
func (a *API) verifyHumanCheck(r *http.Request, stage string, auth json.RawMessage) (handled bool, err error) {
	switch stage {
	case accounts.StageRecaptcha:
		return true, a.verifyCaptcha(r, auth)
	case accounts.StageProofOfWork:
		return true, a.verifyProofOfWork(auth)
	}
	return false, nil
}

// verifyCaptcha completes the captcha stage when the provider accepts the
// auth dict's response; a provider that cannot be asked is a 503, for
// the client to try again later.
func (a *API) verifyCaptcha(r *http.Request, auth json.RawMessage) error {
	var body struct {
		Response string `json:"response"`
	}
	_ = json.Unmarshal(auth, &body)
	if a.Captcha == nil {
		return &accounts.StageError{Errcode: "M_UNRECOGNIZED", Message: "this server has no captcha"}
	}
	failed := a.Metrics.Challenges.Failed
	ok, err := a.Captcha.Verify(r.Context(), body.Response, httpapi.ClientIP(r))
	if err != nil {
		failed.WithLabelValues(accounts.StageRecaptcha, metrics.ChallengeUnavailable).Inc()
		a.Log.WarnContext(r.Context(), "captcha check failed", "err", err)
		return httpapi.NewError(http.StatusServiceUnavailable, "M_UNKNOWN", "the captcha provider could not be reached; try again later")
	}
	if !ok {
		failed.WithLabelValues(accounts.StageRecaptcha, metrics.ChallengeRefused).Inc()
		return &accounts.StageError{Errcode: "M_UNAUTHORIZED", Message: "the captcha was not solved; solve it again"}
	}
	a.Metrics.Challenges.Solved.WithLabelValues(accounts.StageRecaptcha).Inc()
	return nil
}

// verifyProofOfWork completes the proof-of-work stage when the auth
// dict's nonce solves its challenge, which is then used up. A refused
// answer gets the 401 again, with a new challenge.
func (a *API) verifyProofOfWork(auth json.RawMessage) error {
	var body struct {
		Challenge string `json:"challenge"`
		Nonce     string `json:"nonce"`
	}
	_ = json.Unmarshal(auth, &body)
	if a.proofOfWork == nil {
		return &accounts.StageError{Errcode: "M_UNRECOGNIZED", Message: "this server asks for no proof of work"}
	}
	err := a.proofOfWork.Verify(body.Challenge, body.Nonce)
	if err == nil {
		a.Metrics.Challenges.Solved.WithLabelValues(accounts.StageProofOfWork).Inc()
		return nil
	}
	reason := metrics.ChallengeWrong
	switch {
	case errors.Is(err, proofofwork.ErrForged):
		reason = metrics.ChallengeForged
	case errors.Is(err, proofofwork.ErrExpired):
		reason = metrics.ChallengeExpired
	case errors.Is(err, proofofwork.ErrUsed):
		reason = metrics.ChallengeUsed
	case errors.Is(err, proofofwork.ErrBusy):
		a.Metrics.Challenges.Failed.WithLabelValues(accounts.StageProofOfWork, metrics.ChallengeBusy).Inc()
		return httpapi.ErrLimitExceeded(time.Minute)
	}
	a.Metrics.Challenges.Failed.WithLabelValues(accounts.StageProofOfWork, reason).Inc()
	return &accounts.StageError{Errcode: "M_UNAUTHORIZED", Message: err.Error()}
}
