package httpapi

import (
	"net/http"

	"foyer/internal/joinpage"
)

// joinPageRoutes serve Foyer's own web page for visitors: a guest link
// (/_foyer/join/{token}) or a room address (/_foyer/room/{roomIdOrAlias},
// or /_foyer/room/#alias for an alias typed unescaped), and its static
// files. They answer HTML, CSS and JavaScript, written directly here; an
// unknown static file gets the usual Matrix JSON 404.
func (a *API) joinPageRoutes() []route {
	page := joinpage.New(joinpage.Options{
		ServerName:            a.Config.ServerName,
		GuestRegistrationOpen: a.Config.Guests && a.Config.GuestAccess.OpenRegistration,
	})
	servePage := func(w http.ResponseWriter, r *http.Request) error {
		page.ServePage(w, r)
		return nil
	}
	return []route{
		{Method: "GET", Path: "/_foyer/join/{token}", Access: Open, Handle: servePage},
		{Method: "GET", Path: "/_foyer/room/{roomIdOrAlias}", Access: Open, Handle: servePage},
		{Method: "GET", Path: "/_foyer/room/{$}", Access: Open, Handle: servePage},
		{Method: "GET", Path: joinpage.StaticPrefix + "{file}", Access: Open, Handle: func(w http.ResponseWriter, r *http.Request) error {
			if !page.ServeStatic(w, r, r.PathValue("file")) {
				return errNotFound("no such file")
			}
			return nil
		}},
	}
}
