package server

// PusherObserver is told the events Pusher's webhooks report. An Observer that also
// implements it (the webhook dispatcher; an Observers list forwards to those of its members
// that do) gets them. Like Observer's, its methods run on the event loop, must be quick and
// must not retain data.
type PusherObserver interface {
	// ChannelOccupied: the channel got its first subscriber in the cluster; ChannelVacated:
	// it lost its last (pusher_occupancy.go).
	ChannelOccupied(app, channel string)
	ChannelVacated(app, channel string)
	// MemberAdded: a user's first connection joined a presence channel (cluster-wide);
	// MemberRemoved: its last one left.
	MemberAdded(app, channel, userID string)
	MemberRemoved(app, channel, userID string)
	// ClientEvent: a Pusher client sent a client-* event (data is its raw JSON).
	ClientEvent(app, channel, event string, data []byte, socketID, userID string)
}

var _ PusherObserver = Observers(nil)

func (o Observers) ChannelOccupied(app, ch string) {
	for _, x := range o {
		if p, ok := x.(PusherObserver); ok {
			p.ChannelOccupied(app, ch)
		}
	}
}

func (o Observers) ChannelVacated(app, ch string) {
	for _, x := range o {
		if p, ok := x.(PusherObserver); ok {
			p.ChannelVacated(app, ch)
		}
	}
}

func (o Observers) MemberAdded(app, ch, user string) {
	for _, x := range o {
		if p, ok := x.(PusherObserver); ok {
			p.MemberAdded(app, ch, user)
		}
	}
}

func (o Observers) MemberRemoved(app, ch, user string) {
	for _, x := range o {
		if p, ok := x.(PusherObserver); ok {
			p.MemberRemoved(app, ch, user)
		}
	}
}

func (o Observers) ClientEvent(app, ch, event string, data []byte, socketID, userID string) {
	for _, x := range o {
		if p, ok := x.(PusherObserver); ok {
			p.ClientEvent(app, ch, event, data, socketID, userID)
		}
	}
}

type nopPusherObserver struct{}

func (nopPusherObserver) ChannelOccupied(string, string)                             {}
func (nopPusherObserver) ChannelVacated(string, string)                              {}
func (nopPusherObserver) MemberAdded(string, string, string)                         {}
func (nopPusherObserver) MemberRemoved(string, string, string)                       {}
func (nopPusherObserver) ClientEvent(string, string, string, []byte, string, string) {}

// pusherObserver is obs's PusherObserver side, or a no-op.
func pusherObserver(obs Observer) PusherObserver {
	if p, ok := obs.(PusherObserver); ok {
		return p
	}
	return nopPusherObserver{}
}
