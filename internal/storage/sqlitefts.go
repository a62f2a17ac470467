package storage

import (
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/ext/fts5"
)

// The SQLite build is modular: FTS5, which the search index
// (event_search) is, is registered on every connection opened.
func init() { sqlite3.AutoExtension(fts5.Register) }
