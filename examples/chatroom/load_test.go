package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// Load shape of BenchmarkChatLoad; change it with, for example,
// go test -bench ChatLoad -args -load.duration=10s
var (
	loadClients  = flag.Int("load.clients", 1000, "members connected during the load benchmark")
	loadRooms    = flag.Int("load.rooms", 100, "rooms the members are spread over")
	loadDuration = flag.Duration("load.duration", 5*time.Second, "how long members keep sending")
	loadInterval = flag.Duration("load.interval", 0,
		"time between the sends of one member; 0 sends each message as soon as the previous one is back")
)

// BenchmarkChatLoad connects the members evenly to the rooms, each from
// its own loopback address, and lets every member send for a fixed time:
// one message, wait until the room echoes it back, the next message. Every
// member of a room receives every message of the room. It reports the
// messages delivered to members per second, the delivery latency from
// send to receipt at each member, and messages lost, which must be zero.
//
// server=durable is this example; server=memory-hub is a plain in-memory
// broadcast hub on the same WebSocket library and load, with no storage,
// no rate limit and no actor runtime, as the reference. Run it once per
// count: -benchtime 1x.
func BenchmarkChatLoad(b *testing.B) {
	b.Run("server=durable", func(b *testing.B) {
		s := startServer(b, "", appConfig{
			// High enough never to refuse: the benchmark measures the
			// limiter's cost, not its refusals.
			RateLimit:  10000,
			RatePeriod: time.Second,
		})
		runLoad(b, s.URL)
	})
	b.Run("server=durable-nolimit", func(b *testing.B) {
		s := startServer(b, "", appConfig{RateLimit: -1})
		runLoad(b, s.URL)
	})
	b.Run("server=memory-hub", func(b *testing.B) {
		runLoad(b, startMemoryHub(b))
	})
}

// loadMember is one connected member of the load.
type loadMember struct {
	index int
	room  int
	conn  *websocket.Conn
	// echoed receives the sequence number of each of its own messages the
	// room echoes back.
	echoed chan int
	// sent is the number of messages it sent.
	sent int
	// received counts the messages received per sender index.
	received map[int]int
	// latencies of every message received.
	latencies []time.Duration
	// err is the first protocol error the reader saw.
	err error
}

// loadText is the text of message seq of member index, sent at t.
func loadText(index, seq int, t time.Time) string {
	return fmt.Sprintf("%d %d %d", index, seq, t.UnixNano())
}

func parseLoadText(s string) (index, seq int, sent time.Time, err error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return 0, 0, time.Time{}, fmt.Errorf("load message %q: expected 3 fields", s)
	}
	index, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.Atoi(f[1])
	ns, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("load message %q: %w", s, err)
	}
	return index, seq, time.Unix(0, ns), nil
}

// loopbackIP returns a distinct loopback address for member i, so the
// server's per-address rate limit treats every member as its own client.
func loopbackIP(i int) string {
	return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
}

func runLoad(b *testing.B, baseURL string) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), *loadDuration+2*time.Minute)
	defer cancel()
	members := connectLoad(ctx, b, baseURL)
	defer func() {
		for _, m := range members {
			m.conn.CloseNow()
		}
	}()

	var readers sync.WaitGroup
	count := &deliveryCount{done: make(chan struct{})}
	count.target.Store(math.MaxInt64)
	for _, m := range members {
		readers.Go(func() { m.read(ctx, count) })
	}

	b.ResetTimer()
	b.StartTimer()
	start := time.Now()
	stop := start.Add(*loadDuration)
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range members {
		g.Go(func() error { return m.send(gctx, start, stop) })
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("load: %v", err)
	}

	// Every member has its own last message back; wait for the others.
	sentPerRoom := make(map[int]int)
	membersPerRoom := make(map[int]int)
	for _, m := range members {
		sentPerRoom[m.room] += m.sent
		membersPerRoom[m.room]++
	}
	var want int64
	for room, n := range sentPerRoom {
		want += int64(n * membersPerRoom[room])
	}
	count.setTarget(want)
	select {
	case <-count.done:
	case <-ctx.Done():
		b.Errorf("waiting for the last deliveries: %v", ctx.Err())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	for _, m := range members {
		m.conn.CloseNow()
	}
	readers.Wait()

	var all []time.Duration
	lost := int64(0)
	sentBy := make(map[int]int)
	for _, m := range members {
		sentBy[m.index] = m.sent
	}
	for _, m := range members {
		if m.err != nil {
			b.Errorf("member %d: %v", m.index, m.err)
		}
		all = append(all, m.latencies...)
		for _, o := range members {
			if o.room == m.room {
				lost += int64(sentBy[o.index] - m.received[o.index])
			}
		}
	}
	slices.Sort(all)
	got := count.n.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "delivered/s")
	b.ReportMetric(float64(percentile(all, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(want/int64(len(members))), "delivered/member")
	if lost != 0 || got != want {
		b.Errorf("delivered %d of %d messages; %d lost", got, want, lost)
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// connectLoad connects and joins every member, 32 at a time.
func connectLoad(ctx context.Context, b *testing.B, baseURL string) []*loadMember {
	members := make([]*loadMember, *loadClients)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range members {
		g.Go(func() error {
			m := &loadMember{index: i, room: i % *loadRooms, echoed: make(chan int, 1), received: make(map[int]int)}
			c, err := dialRoom(gctx, baseURL, fmt.Sprint("load-", m.room), dialOptions{localIP: loopbackIP(i)})
			if err != nil {
				return fmt.Errorf("member %d: dial: %w", i, err)
			}
			m.conn = c.conn
			if err := wsWriteJSON(gctx, m.conn, map[string]string{"name": fmt.Sprint("m", i)}); err != nil {
				return fmt.Errorf("member %d: send name: %w", i, err)
			}
			for {
				_, data, err := m.conn.Read(gctx)
				if err != nil {
					return fmt.Errorf("member %d: join: %w", i, err)
				}
				if strings.Contains(string(data), `"ready":true`) {
					break
				}
				if strings.Contains(string(data), `"error"`) {
					return fmt.Errorf("member %d: join: %s", i, data)
				}
			}
			members[i] = m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return members
}

func wsWriteJSON(ctx context.Context, c *websocket.Conn, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, data)
}

// send sends messages until stop, each after the previous one came back
// and, with an interval, no sooner than the member's next tick.
func (m *loadMember) send(ctx context.Context, start, stop time.Time) error {
	// Members start their ticks spread over one interval, not all at once.
	next := start.Add(*loadInterval * time.Duration(m.index) / time.Duration(*loadClients))
	for seq := 0; ; seq++ {
		if *loadInterval > 0 {
			if !next.Before(stop) {
				return nil
			}
			time.Sleep(time.Until(next)) // pacing the load, not synchronising
			next = next.Add(*loadInterval)
		} else if !time.Now().Before(stop) {
			return nil
		}
		text := loadText(m.index, seq, time.Now())
		if err := wsWriteJSON(ctx, m.conn, map[string]string{"message": text}); err != nil {
			return fmt.Errorf("member %d: send: %w", m.index, err)
		}
		m.sent++
		select {
		case got := <-m.echoed:
			if got != seq {
				return fmt.Errorf("member %d: echo of message %d, want %d", m.index, got, seq)
			}
		case <-ctx.Done():
			return fmt.Errorf("member %d: waiting for the echo of message %d: %w", m.index, seq, ctx.Err())
		}
	}
}

// read records every message until the connection ends. Messages of each
// sender must arrive in order and without gaps.
func (m *loadMember) read(ctx context.Context, count *deliveryCount) {
	for {
		_, data, err := m.conn.Read(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		var f struct {
			Message   *string `json:"message"`
			Timestamp int64   `json:"timestamp"`
			Error     *string `json:"error"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			m.fail(fmt.Errorf("decode %s: %w", data, err))
			continue
		}
		if f.Error != nil {
			m.fail(fmt.Errorf("error frame: %s", *f.Error))
			continue
		}
		if f.Message == nil {
			continue // joined or quit
		}
		sender, seq, sentAt, err := parseLoadText(*f.Message)
		if err != nil {
			m.fail(err)
			continue
		}
		if seq != m.received[sender] {
			m.fail(fmt.Errorf("message %d of member %d arrived after %d of its messages", seq, sender, m.received[sender]))
		}
		m.received[sender]++
		m.latencies = append(m.latencies, now.Sub(sentAt))
		count.add()
		if sender == m.index {
			m.echoed <- seq
		}
	}
}

// deliveryCount counts deliveries over all members and closes done once
// the count reaches the target.
type deliveryCount struct {
	n      atomic.Int64
	target atomic.Int64
	once   sync.Once
	done   chan struct{}
}

func (c *deliveryCount) add() {
	if c.n.Add(1) >= c.target.Load() {
		c.once.Do(func() { close(c.done) })
	}
}

// setTarget sets the count at which done closes, closing it at once if the
// count is already there.
func (c *deliveryCount) setTarget(want int64) {
	c.target.Store(want)
	if c.n.Load() >= want {
		c.once.Do(func() { close(c.done) })
	}
}

func (m *loadMember) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

// startMemoryHub starts the reference server: the same URL and frames for
// names and messages, rooms as in-memory member lists, a buffered channel
// and a writer goroutine per member, and nothing stored.
func startMemoryHub(b *testing.B) string {
	var mu sync.Mutex
	rooms := make(map[string]map[*hubMember]struct{}) // guarded by mu
	last := make(map[string]int64)                    // newest timestamp per room; guarded by mu

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/room/{room}/websocket", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		room := r.PathValue("room")
		m := &hubMember{out: make(chan []byte, 1024)}
		go m.write(conn)
		defer func() {
			mu.Lock()
			delete(rooms[room], m)
			mu.Unlock()
			close(m.out)
		}()
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			f, err := parseClientFrame(data)
			if err != nil {
				continue
			}
			mu.Lock()
			switch {
			case m.name == "" && f.Name != nil:
				m.name = *f.Name
				if rooms[room] == nil {
					rooms[room] = make(map[*hubMember]struct{})
				}
				rooms[room][m] = struct{}{}
				m.out <- readyFrame()
			case m.name != "" && f.Message != nil:
				ts := max(time.Now().UnixMilli(), last[room]+1)
				last[room] = ts
				frame := mustMarshal(chatMessage{Name: m.name, Message: *f.Message, Timestamp: ts})
				for o := range rooms[room] {
					o.out <- frame
				}
			}
			mu.Unlock()
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// hubMember is one socket of the memory hub.
type hubMember struct {
	name string
	out  chan []byte
}

func (m *hubMember) write(conn *websocket.Conn) {
	defer conn.CloseNow()
	for frame := range m.out {
		if err := conn.Write(context.Background(), websocket.MessageText, frame); err != nil {
			for range m.out {
			}
			return
		}
	}
}
