package accounts

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"
)

// Stage names of user-interactive authentication.
const (
	StageDummy             = "m.login.dummy"
	StagePassword          = "m.login.password"
	StageRegistrationToken = "m.login.registration_token"
	// StageRecaptcha is the spec's captcha stage, whichever provider
	// serves it.
	StageRecaptcha = "m.login.recaptcha"
	// StageProofOfWork is Foyer's own stage: a hash puzzle the client
	// solves (internal/proofofwork; README, "Proof of work").
	StageProofOfWork = "foyer.login.proof_of_work"
)

// Flow is one accepted sequence of stages.
type Flow struct {
	Stages []string `json:"stages"`
}

// Challenge is the body of a 401 asking for (more) authentication.
type Challenge struct {
	Flows     []Flow         `json:"flows"`
	Params    map[string]any `json:"params"`
	Session   string         `json:"session"`
	Completed []string       `json:"completed"`
	Errcode   string         `json:"errcode,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// StageError is a failed stage: the client gets the challenge again with
// this errcode and message.
type StageError struct {
	Errcode string
	Message string
}

func (e *StageError) Error() string { return e.Message }

// ErrUnknownUIASession: the client named a session we do not have.
var ErrUnknownUIASession = errors.New("unknown or expired authentication session")

// ErrUIAOperationChanged: the session was started for another operation
// (another endpoint, device or body); the spec has the server keep each
// session to the request that began it.
var ErrUIAOperationChanged = errors.New("the request changed during the authentication session: start a new session for this one")

// UIASession is the state of one user-interactive authentication.
type UIASession struct {
	ID        string
	purpose   string
	completed []string
	created   time.Time
	// Values carries what stages learned, e.g. the registration token.
	Values map[string]string
	// params are the request parameters remembered for the session (see
	// RememberParams); result is the answer kept by Finish.
	params map[string]json.RawMessage
	result any
}

// UIA keeps user-interactive auth sessions in memory: they live for
// minutes, and a restart only means the client starts the flow again.
type UIA struct {
	mu       sync.Mutex
	sessions map[string]*UIASession
	ttl      time.Duration
}

// NewUIA returns an empty session table.
func NewUIA() *UIA { return &UIA{sessions: map[string]*UIASession{}, ttl: 30 * time.Minute} }

// authDict is the `auth` object of a request.
type authDict struct {
	Type    string `json:"type"`
	Session string `json:"session"`
}

// StageVerifier checks the credentials of one stage.
type StageVerifier func(stage string, auth json.RawMessage, s *UIASession) error

// Run advances a flow. purpose binds a session to one operation (e.g.
// "register", "delete_devices:@u:hs"). It returns the session when some
// flow is complete, else a challenge to send with 401, or an error
// (ErrUnknownUIASession, or a *StageError already folded into the
// challenge).
func (u *UIA) Run(purpose string, flows [][]string, params map[string]any, auth json.RawMessage, verify StageVerifier) (*UIASession, *Challenge, error) {
	var ad authDict
	if len(auth) > 0 && string(auth) != "null" {
		if err := json.Unmarshal(auth, &ad); err != nil {
			return nil, nil, &StageError{Errcode: "M_BAD_JSON", Message: "auth must be an object"}
		}
	}
	u.mu.Lock()
	u.expireLocked()
	var s *UIASession
	if ad.Session != "" {
		s = u.sessions[ad.Session]
		if s != nil && s.result == nil && s.purpose != purpose {
			u.mu.Unlock()
			return nil, nil, ErrUIAOperationChanged
		}
		if s == nil || s.result != nil {
			// A finished session is only answered through Result.
			u.mu.Unlock()
			return nil, nil, ErrUnknownUIASession
		}
	} else {
		s = &UIASession{ID: RandomString(24), purpose: purpose, created: time.Now(), Values: map[string]string{}}
		u.sessions[s.ID] = s
	}
	u.mu.Unlock()

	challenge := func(stageErr *StageError) *Challenge {
		c := &Challenge{Params: params, Session: s.ID, Completed: slices.Clone(s.completed)}
		if c.Params == nil {
			c.Params = map[string]any{}
		}
		for _, f := range flows {
			c.Flows = append(c.Flows, Flow{Stages: f})
		}
		if stageErr != nil {
			c.Errcode, c.Error = stageErr.Errcode, stageErr.Message
		}
		return c
	}

	if ad.Type != "" {
		allowed := false
		for _, f := range flows {
			if slices.Contains(f, ad.Type) {
				allowed = true
			}
		}
		if !allowed {
			return nil, challenge(&StageError{Errcode: "M_UNRECOGNIZED", Message: "authentication type " + ad.Type + " is not offered here"}), nil
		}
		if err := verify(ad.Type, auth, s); err != nil {
			var se *StageError
			if errors.As(err, &se) {
				return nil, challenge(se), nil
			}
			return nil, nil, err
		}
		u.mu.Lock()
		if !slices.Contains(s.completed, ad.Type) {
			s.completed = append(s.completed, ad.Type)
		}
		u.mu.Unlock()
	}
	for _, f := range flows {
		done := true
		for _, st := range f {
			if !slices.Contains(s.completed, st) {
				done = false
				break
			}
		}
		if done {
			u.mu.Lock()
			delete(u.sessions, s.ID)
			u.mu.Unlock()
			return s, nil, nil
		}
	}
	return nil, challenge(nil), nil
}

// AuthSession returns the session ID an auth dict names, or "".
func AuthSession(auth json.RawMessage) string {
	var ad authDict
	if len(auth) == 0 || json.Unmarshal(auth, &ad) != nil {
		return ""
	}
	return ad.Session
}

// RememberParams keeps a request's parameters in session id of purpose,
// so that later requests of the session may leave them out, as Synapse
// allows: params (the request's, without auth) are laid over those
// remembered, the merge is remembered and returned. Without such a live
// session, params come back unchanged.
func (u *UIA) RememberParams(purpose, id string, params map[string]json.RawMessage) map[string]json.RawMessage {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.sessions[id]
	if id == "" || s == nil || s.purpose != purpose || s.result != nil {
		return params
	}
	merged := make(map[string]json.RawMessage, len(s.params)+len(params))
	for k, v := range s.params {
		merged[k] = v
	}
	for k, v := range params {
		merged[k] = v
	}
	s.params = merged
	return merged
}

// Finish keeps session s, whose flow Run completed, with the result of
// its operation for the rest of its lifetime, so a client resubmitting the
// session (say, after a lost response) gets the same answer from Result
// instead of an error or a second operation.
func (u *UIA) Finish(s *UIASession, result any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s.result = result
	u.sessions[s.ID] = s
}

// Result returns the result Finish kept for session id of purpose.
func (u *UIA) Result(purpose, id string) (any, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireLocked()
	s := u.sessions[id]
	if id == "" || s == nil || s.purpose != purpose || s.result == nil {
		return nil, false
	}
	return s.result, true
}

func (u *UIA) expireLocked() {
	cutoff := time.Now().Add(-u.ttl)
	for id, s := range u.sessions {
		if s.created.Before(cutoff) {
			delete(u.sessions, id)
		}
	}
}
