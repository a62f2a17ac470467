package joinpage

import (
	"net/http"

	"foyer/internal/httpapi"
)

// Routes serve Foyer's own web page for visitors: a guest link
// (/_foyer/join/{token}) or a room address (/_foyer/room/{roomIdOrAlias},
// or /_foyer/room/#alias for an alias typed unescaped), and its static
// files. They answer HTML, CSS and JavaScript, written directly; an
// unknown static file gets the usual Matrix JSON 404. The page itself
// talks to the client API.
func Routes(opts Options) []httpapi.Route {
	page := New(opts)
	servePage := func(w http.ResponseWriter, r *http.Request) error {
		page.ServePage(w, r)
		return nil
	}
	return []httpapi.Route{
		{Method: "GET", Path: "/_foyer/join/{token}", Access: httpapi.Open, Handle: servePage},
		{Method: "GET", Path: "/_foyer/room/{roomIdOrAlias}", Access: httpapi.Open, Handle: servePage},
		{Method: "GET", Path: "/_foyer/room/{$}", Access: httpapi.Open, Handle: servePage},
		{Method: "GET", Path: StaticPrefix + "{file}", Access: httpapi.Open, Handle: func(w http.ResponseWriter, r *http.Request) error {
			if !page.ServeStatic(w, r, r.PathValue("file")) {
				return httpapi.ErrNotFound("no such file")
			}
			return nil
		}},
	}
}
