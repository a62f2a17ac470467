package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"foyer/internal/accounts"
)

// statusRecorder remembers the status a handler wrote, for metrics, logs
// and the panic handler.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets long-polls and streamed downloads flush.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ServeHTTP is the entry point of every request: the client's address,
// panic recovery, CORS, routing with Matrix-shaped 404 and 405 answers,
// metrics and the request log.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	routeLabel := "unmatched"
	info := &requestInfo{client: a.clientAddress(r), id: a.requestID(r)}
	r = withRequestInfo(r, info)
	rec.Header().Set(requestIDHeader, info.id)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.Log.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec.status == 0 {
				WriteError(rec, r, a.Log, NewError(http.StatusInternalServerError, "M_UNKNOWN", "internal server error"))
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		a.Metrics.Requests.WithLabelValues(routeLabel, r.Method, strconv.Itoa(status)).Inc()
		took := time.Since(start)
		a.Metrics.Latency.WithLabelValues(routeLabel).Observe(took.Seconds())
		a.logRequest(r, info, status, took)
	}()

	setCORSHeaders(rec.Header())
	if r.Method == http.MethodOptions {
		// Browsers' preflight: every path answers, known or not (spec:
		// Web Browser Clients).
		routeLabel = "OPTIONS"
		rec.WriteHeader(http.StatusOK)
		return
	}
	// One routing: the mux sets r.Pattern in place; requests no route
	// takes reach the catch-all (unmatched), which answers in Matrix JSON.
	a.mux.ServeHTTP(rec, r)
	if r.Pattern != "" && r.Pattern != catchAll {
		routeLabel = r.Pattern
	}
}

// catchAll is the pattern of unmatched.
const catchAll = "/"

// unmatched answers a request no route takes: 405 with Allow when the
// path has routes for other methods (as the mux would say without the
// catch-all), else 404, both as Matrix errors.
func (a *API) unmatched(w http.ResponseWriter, r *http.Request) {
	probe := &headerProbe{header: http.Header{}}
	h, _ := a.routesOnly.Handler(r)
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		WriteError(w, r, a.Log, ErrUnrecognized(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	WriteError(w, r, a.Log, ErrUnrecognized(http.StatusNotFound, "unrecognised request: %s %s", r.Method, r.URL.Path))
}

// headerProbe captures what ServeMux's own 404/405 handler would write,
// so we can answer in Matrix JSON instead.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

// The CORS headers' values, shared by every answer: Header.Set would
// allocate a slice for each on every request, and net/http only reads them.
var (
	corsOrigin  = []string{"*"}
	corsMethods = []string{"GET, POST, PUT, DELETE, OPTIONS"}
	corsHeaders = []string{"X-Requested-With, Content-Type, Authorization"}
)

func setCORSHeaders(h http.Header) {
	h["Access-Control-Allow-Origin"] = corsOrigin
	h["Access-Control-Allow-Methods"] = corsMethods
	h["Access-Control-Allow-Headers"] = corsHeaders
}

// wrap applies a route's access rule and body cap around its handler.
func (a *API) wrap(rt Route) http.Handler {
	maxBody := rt.MaxBody
	if maxBody == 0 {
		maxBody = a.Config.Limits.MaxRequestBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.authorise(r, rt.Access, rt.ExpiredTokenOK); err != nil {
			WriteError(w, r, a.Log, err)
			return
		}
		if err := a.guestExtensionGate(r, rt); err != nil {
			WriteError(w, r, a.Log, err)
			return
		}
		if rt.Own && r.PathValue("userId") != Principal(r).UserID {
			WriteError(w, r, a.Log, ErrForbidden("you can only do this for your own user ID, not %s", r.PathValue("userId")))
			return
		}
		if r.ContentLength > maxBody {
			WriteError(w, r, a.Log, ErrTooLarge("request body is larger than %d bytes", maxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := checkRequestText(r, rt.RawBody); err != nil {
			WriteError(w, r, a.Log, err)
			return
		}
		if err := rt.Handle(w, r); err != nil {
			WriteError(w, r, a.Log, err)
		}
	})
}

// authorise resolves the access token into the request's principal and
// applies the route's access rule. The guest gate is here, in one place.
func (a *API) authorise(r *http.Request, access Access, expiredOK bool) error {
	token := accessToken(r)
	if token == "" {
		if access == Open || access == OptionalAuth {
			return nil
		}
		return ErrMissingToken()
	}
	if as := a.AppServices.ByToken(token); as != nil {
		err := a.authoriseAppService(r, as, access)
		if err != nil && access == Open {
			// Registration and login name the user in their body: the
			// service is the caller, whatever user_id says (bridges send
			// the one they are about to register).
			principalSet(r, &accounts.Session{UserID: as.SenderID, Kind: accounts.KindUser, AppServiceID: as.ID})
			return nil
		}
		return err
	}
	authenticate := a.Accounts.Authenticate
	if expiredOK {
		authenticate = a.Accounts.AuthenticateExpired
	}
	sess, err := authenticate(r.Context(), token)
	if err != nil {
		if access == Open {
			return nil // an open route ignores a bad token
		}
		if errors.Is(err, accounts.ErrNotFound) {
			return ErrUnknownToken("unrecognised access token")
		}
		if errors.Is(err, accounts.ErrTokenExpired) {
			// The session lives on: the client refreshes the token, or
			// logs in again on the same device, keeping its keys.
			e := ErrUnknownToken("access token expired")
			e.Extra["soft_logout"] = true
			return e
		}
		return err
	}
	switch access {
	case UserOnly:
		if sess.IsGuest() {
			return ErrGuestForbidden("guest accounts cannot use this endpoint; register an account to use it")
		}
	case AdminOnly:
		if sess.IsGuest() {
			return ErrGuestForbidden("guest accounts cannot use this endpoint")
		}
		if !sess.IsAdmin {
			return ErrForbidden("you are not a server admin")
		}
	}
	principalSet(r, &sess)
	a.touch(r, &sess)
	return nil
}

// principalSet records the caller of an authorised request.
func principalSet(r *http.Request, sess *accounts.Session) {
	*r = *r.WithContext(withPrincipal(r.Context(), sess))
	if info := requestInfoOf(r); info != nil {
		info.user = sess.UserID
	}
}
