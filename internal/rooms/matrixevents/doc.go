// Package matrixevents is Foyer's only wrapper over gomatrixserverlib.
//
// It builds, signs, parses, redacts and authorises room events (PDUs) and
// exposes them through the opaque Event type so that the rest of Foyer never
// depends on the library's types directly. Keeping the dependency behind one
// package means a library upgrade (or replacement) touches one directory.
package matrixevents
