//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH, SPUBLISH, PUBSUB.
//!
//! A connection's subscriptions are kept by its own shard: the connection's sets, and the
//! shard's index from channel (or pattern) to its subscribed connections. PUBLISH sends the
//! message to every shard, each delivers it to its own subscribers, and the publisher gets the
//! sum of their counts once every shard has delivered. A publisher's next command waits for
//! that, and messages between two shards keep their order, so every subscriber sees one
//! publisher's messages in the order they were published. A subscriber whose unsent output
//! passes client-output-buffer-limit's pubsub hard limit, or stays above its soft limit for its
//! seconds, is disconnected, as in Redis.

use crate::admin::all_shards;
use crate::conn::{Closing, Step};
use crate::mesh::{ConnId, Msg};
use crate::shard::Shard;
use shoal_data::{events, glob, KeyEvent};
use shoal_protocol::{Args, Protocol, Reply};

/// Subscription kinds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

impl Kind {
    fn sub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

type Names = hashbrown::HashSet<Vec<u8>>;

/// A connection's subscriptions.
#[derive(Default)]
pub struct Subs {
    pub channels: Names,
    pub patterns: Names,
    pub shard: Names,
}

impl Subs {
    fn set(&mut self, k: Kind) -> &mut Names {
        match k {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a (un)subscribe reply carries: channels and patterns, or shard channels.
    fn count(&self, k: Kind) -> usize {
        match k {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// Whether the connection is in subscribe mode (RESP2).
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

type Index = hashbrown::HashMap<Vec<u8>, Vec<ConnId>>;

/// A shard's index of its connections' subscriptions.
#[derive(Default)]
pub struct PubSub {
    channels: Index,
    patterns: Index,
    shard: Index,
}

impl PubSub {
    fn index(&mut self, k: Kind) -> &mut Index {
        match k {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The index of shard channels, or of plain channels.
    fn channels_of(&self, shard: bool) -> &Index {
        if shard {
            &self.shard
        } else {
            &self.channels
        }
    }

    fn add(&mut self, k: Kind, name: &[u8], id: ConnId) {
        self.index(k).entry(name.to_vec()).or_default().push(id);
    }

    fn remove(&mut self, k: Kind, name: &[u8], id: ConnId) {
        let ix = self.index(k);
        if let Some(v) = ix.get_mut(name) {
            v.retain(|&c| c != id);
            if v.is_empty() {
                ix.remove(name);
            }
        }
    }
}

const SUBSCRIBE_MODE: &str =
    "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";

impl Shard {
    /// Whether connection `id` is in RESP2 subscribe mode, where only some commands may run.
    pub fn in_subscribe_mode(&mut self, id: ConnId) -> bool {
        self.conn_mut(id).is_some_and(|c| {
            c.proto == Protocol::Resp2 && c.subs.as_ref().is_some_and(|s| s.active())
        })
    }

    /// The error for a command refused in subscribe mode.
    pub fn subscribe_mode_error(name: &str) -> String {
        format!("ERR Can't execute '{name}': {SUBSCRIBE_MODE}")
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE.
    pub fn subscribe(&mut self, id: ConnId, k: Kind, args: Args<'_>) {
        for i in 1..args.len() {
            let name = args.get(i);
            let Some(c) = self.conn_mut(id) else { return };
            let subs = c.subs.get_or_insert_with(Box::default);
            let new = subs.set(k).insert(name.to_vec());
            let count = subs.count(k);
            frame(&mut c.reply(), 3);
            let mut r = c.reply();
            r.bulk(k.sub_name());
            r.bulk(name);
            r.int(count as i64);
            if new {
                self.pubsub.add(k, name, id);
            }
        }
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE: the named ones, or all of that kind.
    pub fn unsubscribe(&mut self, id: ConnId, k: Kind, args: Args<'_>) {
        let Some(c) = self.conn_mut(id) else { return };
        let names: Vec<Vec<u8>> = if args.len() > 1 {
            (1..args.len()).map(|i| args.get(i).to_vec()).collect()
        } else {
            c.subs
                .as_mut()
                .map(|s| s.set(k).iter().cloned().collect())
                .unwrap_or_default()
        };
        if names.is_empty() {
            let count = c.subs.as_ref().map_or(0, |s| s.count(k));
            frame(&mut c.reply(), 3);
            let mut r = c.reply();
            r.bulk(k.unsub_name());
            r.null();
            r.int(count as i64);
            return;
        }
        for name in names {
            let Some(c) = self.conn_mut(id) else { return };
            let subs = c.subs.get_or_insert_with(Box::default);
            let was = subs.set(k).remove(&name);
            let count = subs.count(k);
            frame(&mut c.reply(), 3);
            let mut r = c.reply();
            r.bulk(k.unsub_name());
            r.bulk(&name);
            r.int(count as i64);
            if was {
                self.pubsub.remove(k, &name, id);
            }
        }
    }

    /// Drops every subscription of a connection that leaves or is RESET (no replies).
    pub fn drop_subscriptions(&mut self, id: ConnId, subs: Subs) {
        for (k, set) in [
            (Kind::Channel, subs.channels),
            (Kind::Pattern, subs.patterns),
            (Kind::Shard, subs.shard),
        ] {
            for name in set {
                self.pubsub.remove(k, &name, id);
            }
        }
    }

    /// PUBLISH / SPUBLISH: deliver on every shard, reply with the number of receivers.
    pub fn publish(&mut self, id: ConnId, shard_channel: bool, args: Args<'_>) -> Step {
        let channel = args.get(1).to_vec();
        let msg = args.get(2).to_vec();
        let msg = std::sync::Arc::new((channel, msg));
        all_shards(
            self,
            id,
            move |x| x.deliver(shard_channel, &msg.0, &msg.1),
            |sh, id, counts| sh.reply_with(id, |r| r.int(counts.iter().sum::<usize>() as i64)),
        )
    }

    /// Delivers a message to this shard's subscribers; returns how many received it.
    fn deliver(&mut self, shard_channel: bool, channel: &[u8], msg: &[u8]) -> usize {
        let mut targets: Vec<(ConnId, Option<Vec<u8>>)> = vec![];
        let ix = self.pubsub.channels_of(shard_channel);
        if let Some(v) = ix.get(channel) {
            targets.extend(v.iter().map(|&c| (c, None)));
        }
        if !shard_channel {
            for (pat, v) in &self.pubsub.patterns {
                if glob::matches(pat, channel) {
                    targets.extend(v.iter().map(|&c| (c, Some(pat.clone()))));
                }
            }
        }
        let mut n = 0;
        let limit = self.config.output_limits[crate::config::PUBSUB_CLASS];
        let now_ms = self.now_ms;
        for (id, pat) in targets {
            let Some(c) = self.conn_mut(id) else { continue };
            if c.closing.is_some() {
                continue;
            }
            n += 1;
            let mut r = c.reply();
            match &pat {
                Some(p) => {
                    frame(&mut r, 4);
                    r.bulk(b"pmessage");
                    r.bulk(p);
                }
                None => {
                    frame(&mut r, 3);
                    r.bulk(if shard_channel {
                        b"smessage"
                    } else {
                        b"message"
                    });
                }
            }
            r.bulk(channel);
            r.bulk(msg);
            let unsent = (c.out.len() + c.sending.len() - c.send_off) as u64;
            let over_hard = limit.hard > 0 && unsent > limit.hard;
            let over_soft = limit.soft > 0 && unsent > limit.soft;
            if !over_soft {
                c.soft_over_since = 0;
            } else if c.soft_over_since == 0 {
                c.soft_over_since = now_ms;
            }
            let soft_expired = over_soft
                && now_ms.saturating_sub(c.soft_over_since) >= (limit.soft_secs as i64) * 1000;
            if over_hard || soft_expired {
                tracing::warn!(
                    client = c.client_id,
                    unsent,
                    "closing subscriber past client-output-buffer-limit pubsub"
                );
                c.out.clear();
                c.closing = Some(Closing::Now);
                self.close_if_idle(id);
            } else {
                self.queue_flush(id);
            }
        }
        n
    }

    /// PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB.
    pub fn pubsub_query(&mut self, id: ConnId, sub: &[u8], args: Args<'_>) -> Step {
        let sub = sub.to_ascii_lowercase();
        let rest: Vec<Vec<u8>> = (2..args.len()).map(|i| args.get(i).to_vec()).collect();
        match sub.as_slice() {
            b"channels" | b"shardchannels" if rest.len() > 1 => {
                let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
                msg.extend_from_slice(args.get(1));
                msg.extend_from_slice(b"'. Try PUBSUB HELP.");
                if let Some(c) = self.conn_mut(id) {
                    c.reply().error_bytes(&msg);
                }
                Step::Done
            }
            b"channels" | b"shardchannels" => {
                let shard = sub == b"shardchannels";
                all_shards(
                    self,
                    id,
                    move |x| {
                        let ix = x.pubsub.channels_of(shard);
                        let pat = rest.first();
                        ix.keys()
                            .filter(|ch| pat.is_none_or(|p| glob::matches(p, ch)))
                            .cloned()
                            .collect::<Vec<Vec<u8>>>()
                    },
                    |sh, id, per_shard| {
                        let mut all: Names = Names::new();
                        for v in per_shard {
                            all.extend(v);
                        }
                        sh.reply_with(id, |r| {
                            r.array(all.len());
                            for ch in &all {
                                r.bulk(ch);
                            }
                        })
                    },
                )
            }
            b"numsub" | b"shardnumsub" => {
                let shard = sub == b"shardnumsub";
                let names = rest.clone();
                all_shards(
                    self,
                    id,
                    move |x| {
                        let ix = x.pubsub.channels_of(shard);
                        names
                            .iter()
                            .map(|ch| ix.get(ch).map_or(0, Vec::len))
                            .collect::<Vec<usize>>()
                    },
                    move |sh, id, per_shard| {
                        sh.reply_with(id, |r| {
                            // A flat array in RESP3 too (Redis 7.0).
                            r.array(rest.len() * 2);
                            for (i, ch) in rest.iter().enumerate() {
                                r.bulk(ch);
                                r.int(per_shard.iter().map(|v| v[i]).sum::<usize>() as i64);
                            }
                        })
                    },
                )
            }
            _ => all_shards(
                self,
                id,
                |x| x.pubsub.patterns.keys().cloned().collect::<Vec<Vec<u8>>>(),
                |sh, id, per_shard| {
                    let mut all: Names = Names::new();
                    for v in per_shard {
                        all.extend(v);
                    }
                    sh.reply_with(id, |r| r.int(all.len() as i64))
                },
            ),
        }
    }
}

/// A pub/sub frame's header: an array in RESP2, a push in RESP3.
fn frame(r: &mut Reply<'_>, n: usize) {
    if r.protocol() == Protocol::Resp3 {
        r.push(n);
    } else {
        r.array(n);
    }
}

impl Shard {
    /// Keyspace notifications: publishes the events recorded since the last call, here and,
    /// through the mesh behind this shard's earlier messages, on every other shard, so each
    /// subscriber sees one shard's events in the order they happened. Each event goes to
    /// `__keyspace@<db>__:<key>` (K) and then `__keyevent@<db>__:<event>` (E), as Redis's
    /// notifyKeyspaceEvent sends them.
    pub fn publish_key_events(&mut self) {
        let mut events = Vec::new();
        self.keyspace.take_events(&mut events);
        self.publish_events(events);
    }

    /// Publishes `events` (see [`Shard::publish_key_events`]).
    pub fn publish_events(&mut self, events: Vec<KeyEvent>) {
        if events.is_empty() {
            return;
        }
        let flags = self.settings.notify;
        let mut msgs = Vec::with_capacity(events.len() * 2);
        for e in events {
            if flags & events::KEYSPACE != 0 {
                let mut ch = format!("__keyspace@{}__:", e.db).into_bytes();
                ch.extend_from_slice(&e.key);
                msgs.push((ch, e.name.as_bytes().to_vec()));
            }
            if flags & events::KEYEVENT != 0 {
                let ch = format!("__keyevent@{}__:{}", e.db, e.name).into_bytes();
                msgs.push((ch, e.key.to_vec()));
            }
        }
        let msgs = std::sync::Arc::new(msgs);
        for s in 0..self.shared.shards() {
            if s != self.id {
                let m = msgs.clone();
                self.send(
                    s,
                    Msg::Call(Box::new(move |x: &mut Shard| {
                        for (ch, msg) in m.iter() {
                            x.deliver(false, ch, msg);
                        }
                    })),
                );
            }
        }
        for (ch, msg) in msgs.iter() {
            self.deliver(false, ch, msg);
        }
    }
}
