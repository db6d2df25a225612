// Package rediscache is the verify.Cache for several replicas: answers live
// in Redis, with a small in-process copy (L1) in front, and invalidations are
// published so that every replica drops its copies.
//
// How a stale answer is kept out:
//
//   - Every key belongs to one of 4096 stripes; a stripe has a generation
//     counter in Redis. Invalidate bumps the counter and deletes the value in
//     one script; SetIf stores in one script only if the counter still has the
//     value Get saw. A load that read the database before a change cannot
//     store after the change's invalidation.
//   - A stored value carries its stripe's generation, and Get ignores a value
//     whose generation is not current. So bumping every stripe empties the
//     shared cache at once; that is how a replica recovers when an
//     invalidation of its own may not have reached Redis, and whenever its
//     subscription (re)starts: whatever happened while it was away is
//     unknown.
//   - The L1 drops a key when the invalidation is published, and every
//     certseal replica that received the message confirms on the sender's
//     ack channel once its copy is gone; Invalidate returns when the live
//     replicas have (or after Timeout), so the next request to any replica
//     sees the change. Replicas announce themselves in a set refreshed on
//     every heartbeat: other subscribers (an older release, redis-cli, a
//     monitor) are not waited for.
//   - A replica serves an L1 copy only while its last heartbeat answer is
//     recent (a lease), so a replica whose subscription silently broke
//     stops serving copies within Heartbeat and a half, before the failed
//     heartbeat is even noticed. A replica that loses its subscription, or
//     sees Redis fail, clears its L1 and bypasses the cache (answers come
//     from the loader) until a heartbeat on a live subscription proves
//     nothing more was missed.
//
// What remains: a replica that received a message but neither confirms
// within Timeout nor loses its lease (a stalled process) may serve its copy
// until it does; and while one replica cannot reach Redis, replicas that
// can keep what it could not invalidate until it is back. Redis keys are
// cluster-safe: a script only touches one stripe, and a stripe is one hash
// slot.
package rediscache

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/memcache"
)

const stripes = 4096

// Options tune a Cache. The zero value is usable.
type Options struct {
	// Prefix namespaces the keys and the invalidation channel; every
	// replica of one deployment uses the same. Default "certseal".
	Prefix string
	// Timeout bounds connecting to Redis and each read and write, so that
	// an unreachable Redis costs a request little. Default 500ms.
	Timeout time.Duration
	// Heartbeat is how often the subscription is checked; a check not
	// answered by the next one counts as a lost connection. Default 1s.
	Heartbeat time.Duration
	// L1Bytes bounds the in-process copies. Default 16 MiB.
	L1Bytes int64
	// L1TTL bounds the life of an in-process copy. Default 10s.
	L1TTL time.Duration
	// ValueKey, 32 bytes, seals every value with AES-256-GCM before it
	// goes to Redis, bound to its key: the pages hold holders' names and
	// photos, which the registry keeps encrypted, and Redis must not be the
	// place they can be read. Every replica must use the same key. Without
	// it values are stored as they are (tests, benchmarks).
	ValueKey []byte
	Logger   *slog.Logger
}

// Cache is a verify.Cache on Redis. It is safe for concurrent use.
type Cache struct {
	rdb     *redis.Client
	l1      *memcache.Cache
	id      string // names this Cache's messages
	prefix  string
	channel string
	acks    string          // where other replicas confirm our invalidations
	members string          // the set of live replicas: id -> lease end (unix ms)
	gens    [stripes]string // generation key of each stripe
	l1ttl   time.Duration
	hb      time.Duration
	timeout time.Duration
	aead    cipher.AEAD // nil: values stored as they are
	log     *slog.Logger

	waitMu  sync.Mutex
	waiting map[string]chan struct{} // nonce -> one token per confirmation

	// lastPong is when the subscription last proved alive (unix ns): when
	// the last answered ping was sent. L1 copies are served only while it
	// is recent.
	lastPong atomic.Int64
	// out holds calls to Redis the subscription loop must not wait for
	// (confirmations, announcements), made by send.
	out    chan func(context.Context)
	sender sync.WaitGroup

	// trusted: the L1 holds nothing a missed invalidation should have
	// dropped, and Redis holds nothing an invalidation of ours failed to
	// drop. Changes happen under mu; epoch counts distrusts, so a
	// recovery that began before one cannot undo it.
	mu    sync.Mutex
	epoch uint64
	// servedOnce: the cache has been trusted before (the next trust is a
	// return, and says so).
	servedOnce bool
	trusted    atomic.Bool
	needBump   atomic.Bool

	stop context.CancelFunc
	done chan struct{}
	psMu sync.Mutex
	ps   *redis.PubSub
}

var _ verify.Cache = (*Cache)(nil)

// KEYS: value, generation. Returns value, generation, value's ms to live.
var getScript = redis.NewScript(`
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[1])}`)

// KEYS: generation, value. ARGV: generation seen, stamped value, ttl ms,
// initial generation. A missing generation (never set, or evicted) is
// started at a random value, so it cannot come back to one a load saw.
var setScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1])
if not g then
	redis.call('SET', KEYS[1], ARGV[4])
	return 0
end
if g ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1`)

// KEYS: generation, then values to delete. ARGV: initial generation.
var bumpScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
	redis.call('INCR', KEYS[1])
else
	redis.call('SET', KEYS[1], ARGV[1])
end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1`)

// message is what travels on the invalidation channel.
type message struct {
	From string   `json:"from"` // the sender drops its copies itself, before sending
	All  bool     `json:"all,omitempty"`
	Keys []string `json:"keys,omitempty"`
	// Nonce asks every receiver to confirm on the sender's ack channel
	// once its copies are gone.
	Nonce string `json:"nonce,omitempty"`
}

// ackChannel is where the replica with the given id hears confirmations.
func ackChannel(prefix, id string) string { return prefix + ":ack:" + id }

// Open connects to the Redis at url (redis://...) and starts listening for
// invalidations. Until the subscription is up the Cache passes every
// request to the loader.
func Open(url string, opts Options) (*Cache, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("rediscache: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = "certseal"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, errors.New("rediscache: prefix must not contain { or }: they decide the cluster slot")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = time.Second
	}
	if opts.L1Bytes == 0 {
		opts.L1Bytes = 16 << 20
	}
	if opts.L1TTL <= 0 {
		opts.L1TTL = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = opts.Timeout, opts.Timeout, opts.Timeout, opts.Timeout
	ro.ContextTimeoutEnabled = true
	// Fail fast: the loader answers instead, and a retry would only
	// double the wait on a Redis that is gone.
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	var aead cipher.AEAD
	if opts.ValueKey != nil {
		block, err := aes.NewCipher(opts.ValueKey)
		if err != nil || len(opts.ValueKey) != 32 {
			return nil, fmt.Errorf("rediscache: ValueKey must be 32 bytes, not %d", len(opts.ValueKey))
		}
		if aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("rediscache: %w", err)
		}
	}

	c := &Cache{
		aead:    aead,
		rdb:     redis.NewClient(ro),
		l1:      memcache.New(memcache.Options{MaxBytes: opts.L1Bytes}),
		id:      strconv.FormatUint(rand.Uint64(), 36),
		prefix:  opts.Prefix,
		channel: opts.Prefix + ":invalidate",
		l1ttl:   opts.L1TTL,
		hb:      opts.Heartbeat,
		timeout: opts.Timeout,
		log:     opts.Logger,
		waiting: map[string]chan struct{}{},
		out:     make(chan func(context.Context), 1024),
		done:    make(chan struct{}),
	}
	c.acks = ackChannel(c.prefix, c.id)
	c.members = c.prefix + ":replicas"
	for s := range c.gens {
		c.gens[s] = c.prefix + ":{" + strconv.Itoa(s) + "}:g"
	}
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.sender.Go(func() { c.send(ctx) })
	go c.watch(ctx)
	return c, nil
}

// send makes the queued calls, each bounded by Timeout.
func (c *Cache) send(ctx context.Context) {
	for {
		select {
		case f := <-c.out:
			fctx, cancel := context.WithTimeout(ctx, c.timeout)
			f(fctx)
			cancel()
		case <-ctx.Done():
			return
		}
	}
}

// later queues f for send; when the queue is full f is dropped (a
// confirmation then costs its sender the Timeout, nothing worse).
func (c *Cache) later(f func(context.Context)) {
	select {
	case c.out <- f:
	default:
		c.log.Debug("rediscache: send queue full; dropping a call")
	}
}

// leaseHeld says whether the subscription answered recently enough for
// the L1 copies to be trusted: pongs come every Heartbeat or so.
func (c *Cache) leaseHeld() bool {
	return time.Since(time.Unix(0, c.lastPong.Load())) < c.lease()
}

// lease is how long a pong lets L1 copies be served, counted from when its
// ping was sent.
func (c *Cache) lease() time.Duration { return c.hb + c.hb/2 }

// announce records this replica as live for three heartbeats, and drops
// replicas whose lease ran out.
func (c *Cache) announce() {
	c.later(func(ctx context.Context) {
		now := time.Now()
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.ZAdd(ctx, c.members, redis.Z{Score: float64(now.Add(3 * c.hb).UnixMilli()), Member: c.id})
			p.ZRemRangeByScore(ctx, c.members, "-inf", "("+strconv.FormatInt(now.UnixMilli(), 10))
			return nil
		})
		if err != nil && ctx.Err() == nil {
			c.failed(ctx, err)
		}
	})
}

func stripe(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % stripes)
}

func (c *Cache) valKey(s int, key string) string {
	return c.prefix + ":{" + strconv.Itoa(s) + "}:v:" + key
}

// seal encrypts a value for the Redis key it is stored under (nonce first).
func (c *Cache) seal(redisKey string, v []byte) []byte {
	if c.aead == nil {
		return v
	}
	out := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(v)+c.aead.Overhead())
	crand.Read(out) // never fails (crypto/rand)
	return c.aead.Seal(out, out, v, []byte(redisKey))
}

// open undoes seal; a value that does not open (another key, another
// deployment's key, damage) is a miss.
func (c *Cache) open(redisKey, sealed string) ([]byte, bool) {
	if c.aead == nil {
		return []byte(sealed), true
	}
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return nil, false
	}
	v, err := c.aead.Open(nil, []byte(sealed[:n]), []byte(sealed[n:]), []byte(redisKey))
	return v, err == nil
}

func randomGen() uint64 { return rand.Uint64N(1<<62) + 1 }

// Trusted reports whether the Cache is serving from the cache, rather than
// passing every request to the loader until Redis is back.
func (c *Cache) Trusted() bool { return c.trusted.Load() }

// Get implements verify.Cache.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, verify.Gen, bool, error) {
	v, g, ok, _ := c.l1.Get(ctx, key)
	// Checked after the L1 read: a copy read before a distrust is not
	// returned after it.
	if !c.trusted.Load() {
		return nil, verify.Gen{Local: g.Local}, false, nil
	}
	if ok && c.leaseHeld() {
		return v, verify.Gen{}, true, nil
	}
	s := stripe(key)
	res, err := getScript.Run(ctx, c.rdb, []string{c.valKey(s, key), c.gens[s]}).Slice()
	if err != nil {
		c.failed(ctx, err)
		return nil, verify.Gen{}, false, fmt.Errorf("rediscache: get: %w", err)
	}
	sealed, hit := res[0].(string)
	gs, _ := res[1].(string)
	pttl, _ := res[2].(int64)
	// Missing or unreadable: zero, which no stored value carries.
	gen, _ := strconv.ParseUint(gs, 10, 64)
	var val []byte
	if hit {
		val, hit = c.open(c.valKey(s, key), sealed)
	}
	if hit && gen != 0 && len(val) >= 8 && binary.BigEndian.Uint64(val[:8]) == gen {
		payload := val[8:]
		if ttl := min(time.Duration(pttl)*time.Millisecond, c.l1ttl); ttl > 0 {
			c.l1.SetIf(ctx, key, payload, g, ttl)
		}
		return payload, verify.Gen{}, true, nil
	}
	return nil, verify.Gen{Local: g.Local, Shared: gen}, false, nil
}

// SetIf implements verify.Cache. stored reports the shared store.
func (c *Cache) SetIf(ctx context.Context, key string, val []byte, gen verify.Gen, ttl time.Duration) (bool, error) {
	if ttl <= 0 || !c.trusted.Load() {
		return false, nil
	}
	s := stripe(key)
	stamped := make([]byte, 8+len(val))
	binary.BigEndian.PutUint64(stamped, gen.Shared)
	copy(stamped[8:], val)
	n, err := setScript.Run(ctx, c.rdb, []string{c.gens[s], c.valKey(s, key)},
		strconv.FormatUint(gen.Shared, 10), c.seal(c.valKey(s, key), stamped), max(ttl.Milliseconds(), 1), randomGen()).Int()
	if err != nil {
		c.failed(ctx, err)
		return false, fmt.Errorf("rediscache: set: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	c.l1.SetIf(ctx, key, val, verify.Gen{Local: gen.Local}, min(ttl, c.l1ttl))
	return true, nil
}

// Invalidate implements verify.Cache. It runs to the end even if ctx is
// cancelled (the change has committed). If Redis cannot be told, the Cache
// stops trusting itself and, once Redis is back, empties the shared cache
// before trusting it again. It returns once every replica that received the
// message has dropped its copies, or after Timeout.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	c.l1.Invalidate(ctx, keys...)
	byStripe := map[int][]string{}
	for _, k := range keys {
		s := stripe(k)
		byStripe[s] = append(byStripe[s], c.valKey(s, k))
	}
	nonce := strconv.FormatUint(rand.Uint64(), 36)
	acked := c.expectAcks(nonce)
	defer c.forgetAcks(nonce)
	msg, err := json.Marshal(message{From: c.id, Keys: keys, Nonce: nonce})
	var receivers int64
	if err == nil {
		receivers, err = c.bump(ctx, byStripe, msg)
	}
	published := time.Now() // after Redis delivered msg
	if err != nil {
		c.needBump.Store(true)
		c.distrust("an invalidation did not reach Redis", err)
		return fmt.Errorf("rediscache: invalidate: %w", err)
	}
	// A Get on this replica may have read the old value from Redis after
	// the first drop and kept it; drop again now that Redis is clean.
	c.l1.Invalidate(ctx, keys...)
	if !c.awaitAcks(acked, receivers) {
		// A replica that did not confirm may be stalled with its copy. Its
		// lease was last renewed by a ping sent before msg was published
		// (a later pong would have come after msg, which it applies first),
		// so it stops serving copies a lease after that: wait that long.
		time.Sleep(time.Until(published.Add(c.lease())))
	}
	return nil
}

func (c *Cache) expectAcks(nonce string) chan struct{} {
	ch := make(chan struct{}, 256) // more replicas than this would only wait for Timeout
	c.waitMu.Lock()
	c.waiting[nonce] = ch
	c.waitMu.Unlock()
	return ch
}

func (c *Cache) forgetAcks(nonce string) {
	c.waitMu.Lock()
	delete(c.waiting, nonce)
	c.waitMu.Unlock()
}

// ack counts one confirmation of the invalidation with this nonce.
func (c *Cache) ack(nonce string) {
	c.waitMu.Lock()
	ch := c.waiting[nonce]
	c.waitMu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// awaitAcks waits for n confirmations (ours included: we are subscribed
// too, unless our subscription is down) for at most Timeout.
func (c *Cache) awaitAcks(acked <-chan struct{}, n int64) bool {
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	for got := int64(0); got < n; got++ {
		select {
		case <-acked:
		case <-timer.C:
			c.log.Warn("rediscache: not every replica confirmed an invalidation in time; waiting until a stalled one's copies lapse",
				"confirmed", got, "receivers", n, "timeout", c.timeout, "lease", c.lease())
			return false
		}
	}
	return true
}

// bump bumps the generations of the given stripes, deletes the given value
// keys in them, and publishes msg, in one round trip. It returns how many
// replicas will confirm: the subscriptions that received msg, but no more
// than the live replicas (other subscribers never confirm).
func (c *Cache) bump(ctx context.Context, byStripe map[int][]string, msg []byte) (int64, error) {
	sha, err := bumpScript.Load(ctx, c.rdb).Result()
	if err != nil {
		return 0, err
	}
	var pub, live *redis.IntCmd
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s, vals := range byStripe {
			p.EvalSha(ctx, sha, append([]string{c.gens[s]}, vals...), randomGen())
		}
		live = p.ZCount(ctx, c.members, strconv.FormatInt(time.Now().UnixMilli(), 10), "+inf")
		pub = p.Publish(ctx, c.channel, msg)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return min(pub.Val(), live.Val()), nil
}

// failed reacts to a failed Redis call: it may have lost more than this
// call, so stop trusting until the heartbeat says otherwise. A caller that
// gave up is no sign of trouble.
func (c *Cache) failed(ctx context.Context, err error) {
	if ctx.Err() == nil {
		c.distrust("a Redis call failed", err)
	}
}

func (c *Cache) distrust(why string, err error) {
	c.mu.Lock()
	c.epoch++
	was := c.trusted.Swap(false)
	c.mu.Unlock()
	// After the flag: a store that saw the flag still up is refused by
	// the generations Clear bumps, or removed by it.
	c.l1.Clear()
	if was {
		c.log.Warn("rediscache: answering from the database until Redis is back", "why", why, "err", err)
	}
}

func (c *Cache) currentEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// recover trusts the cache again if nothing was distrusted since epoch e,
// after emptying the shared cache if that is owed.
func (c *Cache) recover(ctx context.Context, e uint64) {
	if c.needBump.Swap(false) {
		all := make(map[int][]string, stripes)
		for s := range stripes {
			all[s] = nil
		}
		// Not trusted yet, so our own copies are gone already.
		msg, _ := json.Marshal(message{From: c.id, All: true})
		if _, err := c.bump(ctx, all, msg); err != nil {
			c.needBump.Store(true)
			c.log.Warn("rediscache: emptying the shared cache failed; retrying", "err", err)
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == e && !c.trusted.Load() {
		c.trusted.Store(true)
		if c.servedOnce {
			c.log.Info("rediscache: Redis is back; serving from the cache")
		} else {
			c.log.Info("rediscache: connected; serving from the cache")
		}
		c.servedOnce = true
	}
}

var errHeartbeat = errors.New("heartbeat unanswered")

// watch keeps the subscription alive, for the life of the Cache.
func (c *Cache) watch(ctx context.Context) {
	defer close(c.done)
	for {
		err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		c.distrust("the invalidation channel was lost", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.hb):
		}
	}
}

// session runs one subscription until it fails.
func (c *Cache) session(ctx context.Context) error {
	ps := c.rdb.Subscribe(ctx) // no channel yet: no connection yet
	c.psMu.Lock()
	if ctx.Err() != nil {
		c.psMu.Unlock()
		ps.Close()
		return ctx.Err()
	}
	c.ps = ps
	c.psMu.Unlock()
	defer func() {
		c.psMu.Lock()
		c.ps = nil
		c.psMu.Unlock()
		ps.Close()
	}()

	if err := ps.Subscribe(ctx, c.channel, c.acks); err != nil {
		return err
	}
	for range 2 {
		msg, err := ps.ReceiveTimeout(ctx, c.hb)
		if err != nil {
			return err
		}
		if _, ok := msg.(*redis.Subscription); !ok {
			return fmt.Errorf("unexpected %T before the subscription", msg)
		}
	}
	// From here on every invalidation reaches us, or the connection
	// breaks. What was published before is unknown: start from empty.
	c.lastPong.Store(time.Now().UnixNano())
	c.announce()
	c.needBump.Store(true)
	c.recover(ctx, c.currentEpoch())

	var lastPing time.Time
	pinged := false
	for {
		// Ping every heartbeat, and at once when not trusted: the pong
		// carries the epoch it was sent in, and proves that nothing
		// published before it was missed since.
		if time.Since(lastPing) >= c.hb || (!pinged && !c.trusted.Load()) {
			if pinged {
				return errHeartbeat
			}
			if err := ps.Ping(ctx, strconv.FormatUint(c.currentEpoch(), 10)); err != nil {
				return err
			}
			pinged, lastPing = true, time.Now()
		}
		msg, err := ps.ReceiveTimeout(ctx, c.hb)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *redis.Message:
			if m.Channel == c.acks {
				c.ack(m.Payload)
				continue
			}
			if applied := c.apply(m.Payload); applied.Nonce != "" {
				c.confirm(applied)
			}
		case *redis.Pong:
			pinged = false
			// Alive as of the ping: what was published before it has
			// been applied; nothing is known of what came after.
			c.lastPong.Store(lastPing.UnixNano())
			c.announce()
			if e, err := strconv.ParseUint(m.Payload, 10, 64); err == nil && !c.trusted.Load() {
				c.recover(ctx, e)
			}
		case *redis.Subscription:
			// The client resubscribed on its own after a reconnect:
			// messages in between are lost.
			return errors.New("resubscribed")
		}
	}
}

// apply drops what a published invalidation names, and returns it.
func (c *Cache) apply(payload string) message {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		// Someone else's message, or a newer format: drop everything
		// rather than keep what it may have meant.
		c.log.Warn("rediscache: unreadable invalidation; clearing the in-process cache", "err", err)
		m = message{All: true}
	}
	switch {
	case m.From == c.id:
		// Dropped before sending.
	case m.All:
		c.l1.Clear()
	default:
		c.l1.Invalidate(context.Background(), m.Keys...)
	}
	return m
}

// confirm tells the sender of an applied invalidation that our copies are
// gone: our own at once, others' through send, so that the loop goes on
// reading.
func (c *Cache) confirm(m message) {
	if m.From == c.id {
		c.ack(m.Nonce)
		return
	}
	channel := ackChannel(c.prefix, m.From)
	c.later(func(ctx context.Context) {
		// A failure costs the sender its Timeout, and tells us Redis is
		// in trouble.
		if err := c.rdb.Publish(ctx, channel, m.Nonce).Err(); err != nil && ctx.Err() == nil {
			c.failed(ctx, err)
		}
	})
}

// Close stops listening and closes the connections.
func (c *Cache) Close() error {
	c.stop()
	c.psMu.Lock()
	if c.ps != nil {
		c.ps.Close()
	}
	c.psMu.Unlock()
	<-c.done
	c.sender.Wait()
	// Leave the set of live replicas, so nobody waits for us.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	c.rdb.ZRem(ctx, c.members, c.id)
	cancel()
	return c.rdb.Close()
}
