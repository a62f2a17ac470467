package storage

import "database/sql"

// collectStrings reads a one-column query's rows, taking the query's
// results as they come (collectStrings(db.QueryContext(...))). No rows
// is an empty list, not nil, so it encodes as [].
func collectStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
