package matrixevents

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// NotAllowedError means the room's authorisation rules reject an event.
// HTTP handlers map it to 403 M_FORBIDDEN and may show Message to users.
type NotAllowedError struct {
	// Message is a sentence a person can act on; never empty.
	Message string
	// Detail is the library's own wording, kept for logs.
	Detail string
}

func (e *NotAllowedError) Error() string { return e.Message }

// Authorise checks event against the room's auth rules given the state it
// is authorised by (create, power levels, join rules, relevant members, as
// listed by StateNeededForAuth). A rejection is a *NotAllowedError; any
// other error means the inputs were unusable.
func Authorise(event Event, authEvents []Event) (err error) {
	if event.pdu == nil {
		return errors.New("authorise: empty event")
	}
	ps, err := pdus(authEvents)
	if err != nil {
		return fmt.Errorf("authorise: %w", err)
	}
	if event.Type() != TypeCreate && !hasCreate(authEvents) {
		// Checked here because the library dereferences a missing create
		// event in some paths.
		return &NotAllowedError{
			Message: "you are not allowed to send this event: the room's m.room.create event is not among its auth events",
			Detail:  "missing create event",
		}
	}
	provider, err := gmsl.NewAuthEvents(ps)
	if err != nil {
		return fmt.Errorf("authorise: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("authorise %s: library panic: %v", event.EventID(), r)
		}
	}()
	if err := gmsl.Allowed(event.pdu, provider, userIDForSender); err != nil {
		return notAllowed(event, err)
	}
	return nil
}

func hasCreate(events []Event) bool {
	for _, ev := range events {
		if ev.Type() == TypeCreate && ev.StateKey() != nil && *ev.StateKey() == "" {
			return true
		}
	}
	return false
}

// userIDForSender: in every stable room version the sender is the user ID.
func userIDForSender(_ spec.RoomID, s spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(s), true)
}

// libraryMessage drops the library's package prefix from an error.
func libraryMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"eventauth: ", "gomatrixserverlib: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return strings.TrimSpace(msg)
}

// rewrite turns one of the library's terse messages into a sentence; the
// submatches of re are passed to msg.
type rewrite struct {
	re  *regexp.Regexp
	msg func(ev Event, m []string) string
}

var rewrites = []rewrite{
	{
		regexp.MustCompile(`^sender "[^"]*" is not allowed to send event\. (-?\d+) < (-?\d+)$`),
		func(ev Event, m []string) string {
			return fmt.Sprintf("you are not allowed to send this event: sender's power level %s is below the %s needed for %s", m[1], m[2], ev.Type())
		},
	},
	{
		regexp.MustCompile(`^sender "([^"]*)" not in room$`),
		func(_ Event, m []string) string {
			return fmt.Sprintf("you are not allowed to send this event: %s is not joined to the room", m[1])
		},
	},
	{
		regexp.MustCompile(`^sender "([^"]*)" is not allowed to modify the state belonging to "([^"]*)"$`),
		func(_ Event, m []string) string {
			return fmt.Sprintf("you are not allowed to send this event: state key %q starts with '@', so only that user may set it", m[2])
		},
	},
	{
		regexp.MustCompile(`^"[^"]*" is not allowed to change their membership from "([^"]*)" to "join" as join rule "([^"]*)" forbids it$`),
		func(_ Event, m []string) string {
			switch m[2] {
			case "invite":
				return "you are not allowed to join this room: it is invite-only and you have not been invited"
			case "knock", "knock_restricted":
				return "you are not allowed to join this room: you need an invite, which you can ask for by knocking"
			case "private":
				return "you are not allowed to join this room: it is private"
			}
			return fmt.Sprintf("you are not allowed to join this room: its join rule %q does not allow it", m[2])
		},
	},
	{
		regexp.MustCompile(`^"[^"]*" is not allowed to change their membership from "ban" to "[^"]*" as `),
		func(_ Event, _ []string) string {
			return "you are not allowed to change your membership: you are banned from this room"
		},
	},
	{
		regexp.MustCompile(`^"[^"]*" is not allowed to change the membership of "([^"]*)" from "[^"]*" to "[^"]*" as sender has insufficient power to (\w+) \(sender level (-?\d+)(?:, target level (-?\d+))?, \w+ level (-?\d+)\)$`),
		func(_ Event, m []string) string {
			msg := fmt.Sprintf("you are not allowed to %s %s: your power level %s", m[2], m[1], m[3])
			if m[4] != "" {
				return msg + fmt.Sprintf(" must be at least %s and above theirs (%s)", m[5], m[4])
			}
			return msg + fmt.Sprintf(" is below the %s needed", m[5])
		},
	},
	{
		regexp.MustCompile(`^sender "([^"]*)" is not in the room$`),
		func(_ Event, m []string) string {
			return fmt.Sprintf("you are not allowed to change another user's membership: %s is not joined to the room", m[1])
		},
	},
	{
		regexp.MustCompile(`^create event has different roomID\d*: `),
		func(_ Event, _ []string) string {
			return "you are not allowed to send this event: its room ID does not match the room's create event"
		},
	},
	{
		regexp.MustCompile(`^missing create event$`),
		func(_ Event, _ []string) string {
			return "you are not allowed to send this event: the room's m.room.create event is missing"
		},
	},
}

func notAllowed(ev Event, err error) *NotAllowedError {
	detail := libraryMessage(err)
	for _, r := range rewrites {
		if m := r.re.FindStringSubmatch(detail); m != nil {
			return &NotAllowedError{Message: r.msg(ev, m), Detail: detail}
		}
	}
	if detail == "" {
		detail = "rejected by the room's authorisation rules"
	}
	prefix := "you are not allowed to send this event: "
	if ev.Type() == TypeMember {
		prefix = "this membership change is not allowed: "
	}
	return &NotAllowedError{Message: prefix + detail, Detail: detail}
}
