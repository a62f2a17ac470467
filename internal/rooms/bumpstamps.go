package rooms

// BumpEventTypes are the event types that move a room up a client's room
// list (MSC4186's bump_stamp): what a person would call new activity, not
// state churn such as profile changes.
var BumpEventTypes = map[string]bool{
	"m.room.create":                  true,
	"m.room.message":                 true,
	"m.room.encrypted":               true,
	"m.sticker":                      true,
	"m.call.invite":                  true,
	"m.poll.start":                   true,
	"org.matrix.msc3381.poll.start":  true,
	"m.beacon_info":                  true,
	"org.matrix.msc3672.beacon_info": true,
}
