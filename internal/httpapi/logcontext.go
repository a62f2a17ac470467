package httpapi

import (
	"context"
	"log/slog"
)

// WithRequestContext wraps a log handler so that every record logged with
// a request's context — by the middleware, a handler or a service — names
// the request's ID and its caller, and one grep finds all of a request's
// lines.
func WithRequestContext(h slog.Handler) slog.Handler { return requestContextHandler{h} }

type requestContextHandler struct{ slog.Handler }

func (h requestContextHandler) Handle(ctx context.Context, r slog.Record) error {
	if info, _ := ctx.Value(requestInfoKey{}).(*requestInfo); info != nil {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", info.id))
		if info.user != "" {
			r.AddAttrs(slog.String("user", info.user))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestContextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestContextHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestContextHandler) WithGroup(name string) slog.Handler {
	return requestContextHandler{h.Handler.WithGroup(name)}
}
