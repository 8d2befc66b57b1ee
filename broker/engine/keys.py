"""Every Redis key Redcurrent uses is built here, and only here.

Layout (``{…}`` is the Redis Cluster hash tag: all keys of one queue share a slot, so
every queue script runs unchanged on a cluster)::

    rc:{q:<account>:<name>}:meta      hash   queue attributes, counters and timestamps:
                                             settable attributes under their SQS names,
                                             plus ``seq`` (last message number), ``cur``
                                             (retention sweep cursor), ``created_ms``,
                                             ``modified_ms``, ``purged_ms``, ``arn``
    rc:{q:<account>:<name>}:msgs      hash   message number (12 digits, zero-padded, so
                                             equal zset scores keep send order) -> record
                                             msgpack [id, body, sent_ms, receive_count,
                                              first_receive_ms, extra, last_receive_ms,
                                              dlq_source_arn, body_md5]; id and
                                             body_md5 are 16 raw bytes (records written
                                             by older versions: 36-char id, no body_md5)
    rc:{q:<account>:<name>}:avail     zset   message number, score = ms it becomes visible
                                             (visible now, or delayed)
    rc:{q:<account>:<name>}:inflight  zset   message number, score = visibility deadline ms
    rc:{q:<account>:<name>}:groups    zset   FIFO: "<group>\0<message number>", score 0 (lex
                                             order = each group's messages in send order)
    rc:{q:<account>:<name>}:ready     zset   FIFO: group -> ms it became receivable (its
                                             first message is not in flight)
    rc:{q:<account>:<name>}:ingroup   hash   FIFO: in-flight message number -> group
    rc:{q:<account>:<name>}:dedup     hash   FIFO: deduplication key -> id (16 bytes) + number
    rc:{q:<account>:<name>}:dedupexp  zset   FIFO: deduplication key -> ms it is forgotten
    rc:{q:<account>:<name>}:attempts  hash   FIFO: ReceiveRequestAttemptId -> msgpack
                                             [number, receive count, deadline, ...]
    rc:{q:<account>:<name>}:attemptexp zset  FIFO: ReceiveRequestAttemptId -> expiry ms
    rc:{q:<account>:<name>}:fair      zset   fair queues: message number -> virtual time
    rc:{q:<account>:<name>}:fairvt    zset   fair queues: tenant -> its latest virtual time
    rc:{q:<account>:<name>}:tenant    hash   fair queues: message number -> tenant
    rc:{q:<account>:<name>}:tenantin  hash   fair queues: tenant -> messages in flight
    rc:{q:<account>:<name>}:dlqout    hash   message number -> record on its way to the DLQ
                                             (the DLQ lives in another slot: outbox)
    rc:{q:<account>:<name>}:moving    hash   message number -> record claimed by a message
                                             move task, on its way out (outbox)
    rc:{q:<account>:<name>}:mvtasks   hash   move task id -> msgpack map (status, counts,
                                             owner and lease of its runner)
    rc:{q:<account>:<name>}:mvorder   zset   move task id -> ms started (the 10 kept)
    rc:{q:<account>:<name>}:waiters   zset   engine id -> ms until which it long-polls
    rc:{q:<account>:<name>}:tags      hash   tag key -> value
    rc:{q:<account>:<name>}:sources   set    names of queues whose RedrivePolicy targets
                                             this queue (maintained idempotently)
    rc:{q:<account>:<name>}:mv:<id>   string DLQ-move idempotency marker (expires)
    rc:{a:<account>}:queues           zset   queue names, score 0 (lexicographic listing)
    rc:{a:<account>}:deleted          hash   queue name -> ms it was deleted
    rc:{a:<account>}:moving           set    names of queues with an active move task
    rc:{a:<account>}:topics           zset   topic names, score 0 (lexicographic listing)
    rc:{a:<account>}:subscriptions    zset   "<topic>:<subscription id>", score 0 (listing)
    rc:{a:<account>}:httpdue          zset   topic name -> ms its next HTTP/S delivery is due

    rc:{t:<account>:<name>}:meta      hash   topic attributes under their SNS names, plus
                                             ``arn``, ``created_ms``, ``seq`` (FIFO
                                             sequence numbers), ``policies`` (subscriptions
                                             with a filter policy)
    rc:{t:<account>:<name>}:subs      hash   subscription id -> msgpack map (protocol,
                                             endpoint, attributes, status, token, owner)
    rc:{t:<account>:<name>}:index     hash   "e:<protocol> <endpoint>" and "t:<token>" ->
                                             subscription id
    rc:{t:<account>:<name>}:tags      hash   tag key -> value
    rc:{t:<account>:<name>}:outbox    hash   message id -> msgpack map: a published message
                                             and the subscriptions it still goes to
    rc:{t:<account>:<name>}:outq      zset   message id -> ms published (the outbox in order)
    rc:{t:<account>:<name>}:httpq     zset   HTTP/S deliveries: "<message id> <subscription
                                             id>" (or "confirm <subscription id>") -> ms due
    rc:{t:<account>:<name>}:httpmsg   hash   message id -> msgpack {r: record, n: pending}
    rc:{t:<account>:<name>}:httptry   hash   HTTP/S delivery -> attempts failed so far
    rc:{t:<account>:<name>}:dedup     hash   FIFO topics: deduplication key -> message id +
                                             sequence number
    rc:{t:<account>:<name>}:dedupexp  zset   FIFO topics: deduplication key -> ms forgotten
    rc:{q:<account>:<name>}:mv:t:<message id>:<subscription id>
                                      string delivery marker of a topic message in a queue
    rc:wake:<account>:<name>          pubsub channel: "a message became visible"

    rc:{a:<account>}:streams          zset   stream names, score 0 (lexicographic listing)
    rc:{s:<account>:<name>}:meta      hash   stream settings and state: ``arn``, ``status``
                                             (CREATING, ACTIVE, DELETING), ``mode``,
                                             ``retention_h``, ``created_ms``, ``epoch``
                                             (random per incarnation of the name),
                                             ``next_shard`` (index of the next shard id)
    rc:{s:<account>:<name>}:shards    hash   shard id -> msgpack map (start/end hash key,
                                             parents, starting/ending sequence number)
    rc:{s:<account>:<name>}:tags      hash   tag key -> value
    rc:{s:<account>:<name>}:consumers hash   enhanced fan-out consumer name -> msgpack
                                             map (arn, created_ms)
    rc:{k:<account>:<name>:<shard>}:data  stream  the shard's records: fields d (data),
                                             k (partition key); ID = arrival ms-seq
    rc:{k:<account>:<name>:<shard>}:state hash  ``epoch`` (the stream's), ``closed``
                                             (ending entry ID once closed)
    rc:{k:<account>:<name>:<shard>}:sub:<consumer>  string  the consumer's live
                                             SubscribeToShard: "<token> <started ms>"
    rc:kinesis:secret                 string HMAC key of shard iterators (made on first use)

    rc:{l:<account>:<stream>:<app>}:leases   hash  a stream consumer application's lease
                                             table: shard id -> msgpack map (see
                                             ``leases.Lease``: owner, counter, token,
                                             checkpoint, pending, switches, parents,
                                             children, renewed_ms, handoff_to, handoff_ms)
    rc:{l:<account>:<stream>:<app>}:workers  zset  worker id -> server ms of its last
                                             renewal (the application's live workers)
    rc:idem:<account>:<namespace>:<sha1 of the key>  string  idempotency marker of a
                                             worker handler: "running <owner>" or "done"
                                             (expires)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

PREFIX = "rc"


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue; all share the queue's hash tag."""

    account: str
    name: str
    #: KEYS of send.lua, receive.lua and delete.lua, built once (hot paths)
    send_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    receive_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    delete_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: the three keys of a FIFO queue's group bookkeeping (see _prelude.lua)
    fifo_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: the four keys of a fair queue's tenant bookkeeping (see _prelude.lua)
    fair_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: the fixed KEYS of dlq_accept.lua (the markers follow them)
    accept_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        meta, msgs, avail, inflight = self.meta, self.msgs, self.avail, self.inflight
        fair = (self.fair, self.fair_vt, self.tenant, self.tenant_inflight)
        object.__setattr__(self, "fair_keys", fair)
        object.__setattr__(self, "send_keys",
                           (meta, msgs, avail, inflight, self.waiters, *fair))
        object.__setattr__(self, "receive_keys",
                           (meta, msgs, avail, inflight, self.dlqout, self.waiters, *fair))
        object.__setattr__(self, "delete_keys", (meta, msgs, avail, inflight, *fair))
        object.__setattr__(self, "fifo_keys", (self.groups, self.ready, self.ingroup))
        object.__setattr__(self, "accept_keys",
                           (meta, msgs, avail, self.waiters, *self.fifo_keys, *fair))

    @property
    def tag(self) -> str:
        return f"{PREFIX}:{{q:{self.account}:{self.name}}}"

    @property
    def meta(self) -> str:
        return f"{self.tag}:meta"

    @property
    def msgs(self) -> str:
        return f"{self.tag}:msgs"

    @property
    def avail(self) -> str:
        return f"{self.tag}:avail"

    @property
    def inflight(self) -> str:
        return f"{self.tag}:inflight"

    @property
    def groups(self) -> str:
        return f"{self.tag}:groups"

    @property
    def ready(self) -> str:
        return f"{self.tag}:ready"

    @property
    def ingroup(self) -> str:
        return f"{self.tag}:ingroup"

    @property
    def dedup(self) -> str:
        return f"{self.tag}:dedup"

    @property
    def dedup_exp(self) -> str:
        return f"{self.tag}:dedupexp"

    @property
    def attempts(self) -> str:
        return f"{self.tag}:attempts"

    @property
    def attempt_exp(self) -> str:
        return f"{self.tag}:attemptexp"

    @property
    def fair(self) -> str:
        return f"{self.tag}:fair"

    @property
    def fair_vt(self) -> str:
        return f"{self.tag}:fairvt"

    @property
    def tenant(self) -> str:
        return f"{self.tag}:tenant"

    @property
    def tenant_inflight(self) -> str:
        return f"{self.tag}:tenantin"

    @property
    def dlqout(self) -> str:
        return f"{self.tag}:dlqout"

    @property
    def moving(self) -> str:
        return f"{self.tag}:moving"

    @property
    def move_tasks(self) -> str:
        return f"{self.tag}:mvtasks"

    @property
    def move_order(self) -> str:
        return f"{self.tag}:mvorder"

    @property
    def waiters(self) -> str:
        return f"{self.tag}:waiters"

    @property
    def tags(self) -> str:
        return f"{self.tag}:tags"

    @property
    def sources(self) -> str:
        return f"{self.tag}:sources"

    def moved_marker(self, message_id: str) -> str:
        return f"{self.tag}:mv:{message_id}"

    def delivery_marker(self, message_id: str, subscription_id: str) -> str:
        """Marks a topic message delivered to this queue by one subscription."""
        return f"{self.tag}:mv:t:{message_id}:{subscription_id}"

    @property
    def wake_channel(self) -> str:
        return f"{PREFIX}:wake:{self.account}:{self.name}"

    def all_data(self) -> list[str]:
        """Every key that holds this queue's state (for DeleteQueue)."""
        return [self.meta, self.msgs, self.avail, self.inflight, self.dlqout, self.waiters,
                self.tags, self.sources, *self.fifo_keys, self.dedup, self.dedup_exp,
                self.attempts, self.attempt_exp, self.moving, self.move_tasks,
                self.move_order, *self.fair_keys]


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """Per-account indexes (one slot per account)."""

    account: str

    @property
    def queues(self) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:queues"

    @property
    def deleted(self) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:deleted"

    @property
    def moving(self) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:moving"

    @property
    def topics(self) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:topics"

    @property
    def subscriptions(self) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:subscriptions"

    @property
    def http_due(self) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:httpdue"

    @property
    def streams(self) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:streams"


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """The keys of one stream's metadata; all share the stream's hash tag. Each shard's
    records live in slots of their own (``ShardKeys``)."""

    account: str
    name: str

    @property
    def tag(self) -> str:
        return f"{PREFIX}:{{s:{self.account}:{self.name}}}"

    @property
    def meta(self) -> str:
        return f"{self.tag}:meta"

    @property
    def shards(self) -> str:
        return f"{self.tag}:shards"

    @property
    def tags(self) -> str:
        return f"{self.tag}:tags"

    @property
    def consumers(self) -> str:
        return f"{self.tag}:consumers"

    def shard(self, shard_id: str) -> ShardKeys:
        return ShardKeys(self.account, self.name, shard_id)


@dataclass(frozen=True, slots=True)
class ShardKeys:
    """One shard of a stream: its records (a Redis Stream) and its state, in a slot of
    their own."""

    account: str
    stream: str
    shard_id: str

    @property
    def tag(self) -> str:
        return f"{PREFIX}:{{k:{self.account}:{self.stream}:{self.shard_id}}}"

    @property
    def data(self) -> str:
        return f"{self.tag}:data"

    @property
    def state(self) -> str:
        return f"{self.tag}:state"

    def subscription(self, consumer: str) -> str:
        return f"{self.tag}:sub:{consumer}"


@dataclass(frozen=True, slots=True)
class LeaseKeys:
    """One stream consumer application's lease table and worker registry (one slot)."""

    account: str
    stream: str
    application: str

    @property
    def tag(self) -> str:
        return f"{PREFIX}:{{l:{self.account}:{self.stream}:{self.application}}}"

    @property
    def leases(self) -> str:
        return f"{self.tag}:leases"

    @property
    def workers(self) -> str:
        return f"{self.tag}:workers"


def idempotency_key(account: str, namespace: str, key: str) -> str:
    """One idempotency marker (single-key operations only: any slot will do)."""
    digest = hashlib.sha1(key.encode()).hexdigest()
    return f"{PREFIX}:idem:{account}:{namespace}:{digest}"


#: the HMAC key that makes shard iterators tamper-proof
ITERATOR_SECRET = f"{PREFIX}:kinesis:secret"


@dataclass(frozen=True, slots=True)
class TopicKeys:
    """The keys of one topic; all share the topic's hash tag."""

    account: str
    name: str

    @property
    def tag(self) -> str:
        return f"{PREFIX}:{{t:{self.account}:{self.name}}}"

    @property
    def meta(self) -> str:
        return f"{self.tag}:meta"

    @property
    def subs(self) -> str:
        return f"{self.tag}:subs"

    @property
    def index(self) -> str:
        return f"{self.tag}:index"

    @property
    def tags(self) -> str:
        return f"{self.tag}:tags"

    @property
    def outbox(self) -> str:
        return f"{self.tag}:outbox"

    @property
    def outq(self) -> str:
        return f"{self.tag}:outq"

    @property
    def dedup(self) -> str:
        return f"{self.tag}:dedup"

    @property
    def dedup_exp(self) -> str:
        return f"{self.tag}:dedupexp"

    @property
    def httpq(self) -> str:
        return f"{self.tag}:httpq"

    @property
    def httpmsg(self) -> str:
        return f"{self.tag}:httpmsg"

    @property
    def httptry(self) -> str:
        return f"{self.tag}:httptry"

    def all_data(self) -> list[str]:
        """Every key that holds this topic's state (for DeleteTopic)."""
        return [self.meta, self.subs, self.index, self.tags, self.outbox, self.outq,
                self.dedup, self.dedup_exp, self.httpq, self.httpmsg, self.httptry]
