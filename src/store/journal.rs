//! The user flows' records for `keyward serve`: an append-only journal on
//! disk with every record held in memory.
//!
//! Why not the redb file the rest of the embedded store uses: a refresh
//! rotates a token (two records) per request, and redb's copy-on-write
//! B-tree rewrote whole pages and synced twice for each commit group. Three
//! quarters of the store thread's CPU was the kernel writing those pages
//! (perf, docs/benchmarks.md). A journal writes each record once, ~1 KiB,
//! with one `fdatasync` per group; reads are a hash lookup instead of a
//! read transaction.
//!
//! The file is `MAGIC`, then frames: `length u32 | checksum [8] | body`,
//! the checksum being the first 8 bytes of the body's SHA-256. At open every
//! frame is replayed in order; the first frame that is cut short or does not
//! check ends the journal, and the file is truncated there: a torn tail is a
//! group whose sync never finished, and nobody was answered for it.
//!
//! Ordering and durability: one writer thread decides every conditional
//! write against what is committed plus what its current group already
//! decided, appends the group, syncs, and only then makes the group visible
//! to readers and answers the callers. A reader therefore never sees a write
//! that a crash could undo. After a write or sync error the journal refuses
//! every later write (what the kernel kept of that group is unknown, and a
//! retried `fsync` can report success for pages it dropped): the process is
//! restarted and the replay decides.
//!
//! Expired records stay until `purge_records`; the journal never reads a
//! clock of its own. When most of the file is dead (replaced, deleted or
//! purged records), the writer rewrites it with only the live records and
//! swaps it in with a rename.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use aws_lc_rs::digest::{SHA256, digest};
use keyward_core::UnixTime;
use keyward_core::store::{Record, RecordKind, Records, StoreError, StoreFuture, Stored, Write};
use tokio::sync::oneshot;

const MAGIC: &[u8] = b"keyward-records 1\n";
/// Writes waiting for the writer; beyond that callers get `Full` (503).
const QUEUE: usize = 8192;
/// The most writes one sync carries.
const MAX_GROUP: usize = 1024;
/// No compaction below this file size...
const COMPACT_FROM: u64 = 8 << 20;
/// ...and only once the file is this many times the live records' size.
const COMPACT_RATIO: u64 = 4;
/// A frame longer than this is damage, not a record.
const MAX_FRAME: usize = 16 << 20;
const FRAME_HEAD: usize = 12;

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

fn slot(kind: RecordKind) -> usize {
    match kind {
        RecordKind::Pending => 0,
        RecordKind::Login => 1,
        RecordKind::Code => 2,
        RecordKind::Refresh => 3,
        RecordKind::Family => 4,
        RecordKind::Consent => 5,
    }
}

struct Entry {
    version: u64,
    record: Record,
    /// Bytes of its frame in the file: what compaction would keep.
    size: u64,
}

/// What readers see: the committed records, one map per kind.
#[derive(Default)]
struct Table {
    kinds: [HashMap<String, Entry>; 6],
}

impl Table {
    fn live_bytes(&self) -> u64 {
        self.kinds.iter().flat_map(HashMap::values).map(|e| e.size).sum()
    }

    /// Sets or removes a key; returns the frame bytes this adds (negative:
    /// frees) to what a compaction would keep.
    fn apply(&mut self, slot: usize, key: String, entry: Option<Entry>) -> i64 {
        let added = entry.as_ref().map_or(0, |e| e.size as i64);
        let old = match entry {
            Some(e) => self.kinds[slot].insert(key, e),
            None => self.kinds[slot].remove(&key),
        };
        added - old.map_or(0, |e| e.size as i64)
    }
}

enum Op {
    Put {
        kind: RecordKind,
        key: String,
        expected: Option<u64>,
        record: Record,
        now: UnixTime,
    },
    /// A conditional replace and, if it lands, a create: in one sync.
    Pair {
        kind: RecordKind,
        key: String,
        expected: u64,
        record: Record,
        new_key: String,
        new: Record,
        now: UnixTime,
    },
    Delete {
        kind: RecordKind,
        key: String,
    },
    Purge {
        now: UnixTime,
    },
}

enum Answer {
    Write(Write),
    Removed(u64),
}

type Reply = oneshot::Sender<Result<Answer, StoreError>>;

pub struct JournalRecords {
    table: Arc<RwLock<Table>>,
    writer: Option<SyncSender<(Op, Reply)>>,
    thread: Option<JoinHandle<()>>,
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{}: {e}", path.display()))
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("the records table lock is poisoned".into())
}

impl JournalRecords {
    /// Opens (or creates) the journal, replays it and starts the writer.
    /// A second process on the same file is refused (an exclusive lock).
    pub fn open(path: &Path) -> Result<JournalRecords, StoreError> {
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new().read(true).append(true).create(true).mode(0o600).open(path).map_err(|e| io(path, e))?
        };
        file.try_lock().map_err(|_| {
            StoreError::Backend(format!("{}: another keyward process holds this records journal", path.display()))
        })?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io(path, e))?;
        if bytes.is_empty() {
            file.write_all(MAGIC).map_err(|e| io(path, e))?;
            file.sync_all().map_err(|e| io(path, e))?;
            sync_dir(path)?;
            bytes.extend_from_slice(MAGIC);
        }
        let Some(frames) = bytes.strip_prefix(MAGIC) else {
            return Err(StoreError::Backend(format!("{}: not a keyward records journal", path.display())));
        };
        let (table, next, valid) = replay(frames);
        let valid = (MAGIC.len() + valid) as u64;
        if valid < bytes.len() as u64 {
            // Where, not what: the dropped bytes may hold users' records.
            tracing::warn!(
                file = %path.display(),
                kept = valid,
                dropped = bytes.len() as u64 - valid,
                "the records journal ends in an incomplete write (a crash during a sync): the tail is dropped"
            );
            file.set_len(valid).map_err(|e| io(path, e))?;
            file.sync_all().map_err(|e| io(path, e))?;
        }
        file.seek(SeekFrom::End(0)).map_err(|e| io(path, e))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let live = MAGIC.len() as u64 + table.live_bytes();
        let table = Arc::new(RwLock::new(table));
        let mut w = Writer {
            path: path.to_owned(),
            file,
            len: valid,
            live,
            next,
            table: Arc::clone(&table),
            stopped: false,
            buf: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("keyward-records".into())
            .spawn(move || w.run(&rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the records writer: {e}")))?;
        Ok(JournalRecords { table, writer: Some(tx), thread: Some(thread) })
    }

    async fn send(&self, op: Op) -> Result<Answer, StoreError> {
        let writer = self.writer.as_ref().ok_or_else(|| StoreError::Backend("the records journal is closed".into()))?;
        let (reply, answer) = oneshot::channel();
        match writer.try_send((op, reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Full(QUEUE)),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Backend("the records writer stopped".into())),
        }
        answer.await.map_err(|_| StoreError::Backend("the records writer stopped".into()))?
    }

    async fn write(&self, op: Op) -> Result<Write, StoreError> {
        match self.send(op).await? {
            Answer::Write(w) => Ok(w),
            Answer::Removed(_) => Err(StoreError::Backend("the records writer answered a different question".into())),
        }
    }
}

impl Drop for JournalRecords {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and release
        // the file lock, so the same path can be opened again at once.
        self.writer.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

fn checksum(body: &[u8]) -> [u8; 8] {
    let d = digest(&SHA256, body);
    let mut out = [0; 8];
    out.copy_from_slice(&d.as_ref()[..8]);
    out
}

/// Appends one frame; returns its size.
fn frame(buf: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) -> u64 {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEAD]);
    body(buf);
    let len = buf.len() - start - FRAME_HEAD;
    let sum = checksum(&buf[start + FRAME_HEAD..]);
    buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    buf[start + 4..start + FRAME_HEAD].copy_from_slice(&sum);
    (buf.len() - start) as u64
}

fn put_key(buf: &mut Vec<u8>, op: u8, kind: RecordKind, key: &str) {
    buf.push(op);
    buf.push(slot(kind) as u8);
    // Keys are digests the edge computed (tens of bytes); u16 is plenty and
    // a longer one is refused before it is written.
    buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
    buf.extend_from_slice(key.as_bytes());
}

fn put_frame(buf: &mut Vec<u8>, kind: RecordKind, key: &str, version: u64, r: &Record) -> u64 {
    frame(buf, |b| {
        put_key(b, OP_PUT, kind, key);
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&r.until.0.to_le_bytes());
        match &r.index {
            None => b.push(0),
            Some(i) => {
                b.push(1);
                b.extend_from_slice(&(i.len() as u16).to_le_bytes());
                b.extend_from_slice(i.as_bytes());
            }
        }
        b.extend_from_slice(&r.value);
    })
}

fn delete_frame(buf: &mut Vec<u8>, kind: RecordKind, key: &str) -> u64 {
    frame(buf, |b| put_key(b, OP_DELETE, kind, key))
}

/// A frame's body, read back.
enum Frame {
    Put { slot: usize, key: String, version: u64, record: Record },
    Delete { slot: usize, key: String },
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<usize> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u16()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn parse(body: &[u8]) -> Option<Frame> {
    let mut c = Cursor(body);
    let op = c.u8()?;
    let slot = usize::from(c.u8()?);
    if slot >= RecordKind::ALL.len() {
        return None;
    }
    let key = c.string()?;
    match op {
        OP_DELETE if c.0.is_empty() => Some(Frame::Delete { slot, key }),
        OP_PUT => {
            let version = c.u64()?;
            let until = UnixTime(c.u64()?);
            let index = match c.u8()? {
                0 => None,
                1 => Some(c.string()?),
                _ => return None,
            };
            Some(Frame::Put { slot, key, version, record: Record { value: c.0.to_vec(), until, index } })
        }
        _ => None,
    }
}

/// Replays frames; returns the table, the last version handed out, and how
/// many bytes were whole frames.
fn replay(mut bytes: &[u8]) -> (Table, u64, usize) {
    let mut table = Table::default();
    let (mut next, mut valid) = (0, 0);
    while bytes.len() >= FRAME_HEAD {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len > MAX_FRAME || bytes.len() < FRAME_HEAD + len {
            break;
        }
        let body = &bytes[FRAME_HEAD..FRAME_HEAD + len];
        if bytes[4..FRAME_HEAD] != checksum(body) {
            break;
        }
        let Some(frame) = parse(body) else { break };
        let size = (FRAME_HEAD + len) as u64;
        match frame {
            Frame::Put { slot, key, version, record } => {
                next = next.max(version);
                table.kinds[slot].insert(key, Entry { version, record, size });
            }
            Frame::Delete { slot, key } => {
                table.kinds[slot].remove(&key);
            }
        }
        valid += FRAME_HEAD + len;
        bytes = &bytes[FRAME_HEAD + len..];
    }
    (table, next, valid)
}

/// The one thread that appends.
struct Writer {
    path: PathBuf,
    file: File,
    /// The file's length, and what of it a compaction would keep.
    len: u64,
    live: u64,
    next: u64,
    table: Arc<RwLock<Table>>,
    /// Set by a write or sync error: every later write is refused.
    stopped: bool,
    /// The group's frames; kept to reuse its allocation.
    buf: Vec<u8>,
}

/// What a group decided for each key, per kind, not yet visible to readers.
type Pending = [HashMap<String, Option<Entry>>; 6];

/// A group's answer before its sync: a purge runs only once the writes
/// before it are visible.
enum Decided {
    Write(Write),
    Purge(UnixTime),
}

impl Writer {
    fn run(&mut self, rx: &Receiver<(Op, Reply)>) {
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(op) => group.push(op),
                    Err(_) => break,
                }
            }
            self.commit(group);
            if let Err(e) = self.maybe_compact() {
                tracing::warn!(error = %e, "could not compact the records journal; it keeps growing until the next try");
            }
        }
    }

    fn commit(&mut self, group: Vec<(Op, Reply)>) {
        let (ops, replies): (Vec<Op>, Vec<Reply>) = group.into_iter().unzip();
        if self.stopped {
            return replies.into_iter().for_each(|r| drop(r.send(Err(stopped()))));
        }
        let mut pending = Pending::default();
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let shared = Arc::clone(&self.table);
        let decided = shared.read().map_err(poisoned).map(|table| {
            ops.into_iter()
                .map(|op| match op {
                    Op::Put { kind, key, expected, record, now } => {
                        Decided::Write(self.put(&table, &mut pending, &mut buf, kind, key, expected, record, now))
                    }
                    Op::Pair { kind, key, expected, record, new_key, new, now } => Decided::Write(
                        match self.put(&table, &mut pending, &mut buf, kind, key, Some(expected), record, now) {
                            Write::Done(_) => self.put(&table, &mut pending, &mut buf, kind, new_key, None, new, now),
                            Write::Conflict => Write::Conflict,
                        },
                    ),
                    Op::Delete { kind, key } => {
                        let found = current(&table, &pending, slot(kind), &key).is_some();
                        if found {
                            delete_frame(&mut buf, kind, &key);
                            pending[slot(kind)].insert(key, None);
                        }
                        Decided::Write(if found { Write::Done(String::new()) } else { Write::Conflict })
                    }
                    Op::Purge { now } => Decided::Purge(now),
                })
                .collect::<Vec<_>>()
        });
        let synced = decided.and_then(|d| self.append(&buf).map(|()| d));
        // One unusually big group does not pin its buffer for good.
        if buf.capacity() <= 4 << 20 {
            self.buf = buf;
        }
        let decided = match synced {
            Ok(d) => d,
            Err(e) => return replies.into_iter().for_each(|r| drop(r.send(Err(StoreError::Backend(e.to_string()))))),
        };
        let applied = shared.write().map_err(poisoned).map(|mut table| {
            let mut live = self.live as i64;
            for (slot, writes) in pending.into_iter().enumerate() {
                for (key, entry) in writes {
                    live += table.apply(slot, key, entry);
                }
            }
            let answers = decided
                .into_iter()
                .map(|d| match d {
                    Decided::Write(w) => Answer::Write(w),
                    Decided::Purge(now) => {
                        let mut removed = 0;
                        for map in &mut table.kinds {
                            map.retain(|_, e| {
                                let keep = e.record.until > now;
                                if !keep {
                                    removed += 1;
                                    live -= e.size as i64;
                                }
                                keep
                            });
                        }
                        Answer::Removed(removed)
                    }
                })
                .collect::<Vec<_>>();
            self.live = live.max(0) as u64;
            answers
        });
        match applied {
            Ok(answers) => {
                for (answer, reply) in answers.into_iter().zip(replies) {
                    // A caller that stopped waiting needs no answer.
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => replies.into_iter().for_each(|r| drop(r.send(Err(StoreError::Backend(e.to_string()))))),
        }
    }

    /// Decides a conditional create (`expected: None`) or replace against
    /// the committed table plus this group's decisions, and frames it.
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        table: &Table,
        pending: &mut Pending,
        buf: &mut Vec<u8>,
        kind: RecordKind,
        key: String,
        expected: Option<u64>,
        record: Record,
        now: UnixTime,
    ) -> Write {
        let live = current(table, pending, slot(kind), &key).filter(|(_, until)| *until > now);
        let allowed = match (expected, live) {
            (None, None) => true,
            (Some(e), Some((v, _))) => e == v,
            _ => false,
        };
        if !allowed || key.len() > usize::from(u16::MAX) || record.index.as_ref().is_some_and(|i| i.len() > 4096) {
            return Write::Conflict;
        }
        self.next += 1;
        let size = put_frame(buf, kind, &key, self.next, &record);
        pending[slot(kind)].insert(key, Some(Entry { version: self.next, record, size }));
        Write::Done(self.next.to_string())
    }

    fn append(&mut self, buf: &[u8]) -> Result<(), StoreError> {
        if buf.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.stopped = true;
            tracing::error!(file = %self.path.display(), error = %e, "a write to the records journal failed: it takes no more writes until keyward restarts");
            return Err(io(&self.path, e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Rewrites the file with only the live records when most of it is
    /// dead. The new file is complete and synced before the rename makes it
    /// the journal, so a crash leaves one or the other.
    fn maybe_compact(&mut self) -> Result<(), StoreError> {
        if self.stopped || self.len < COMPACT_FROM {
            return Ok(());
        }
        if self.len < self.live.saturating_mul(COMPACT_RATIO) {
            return Ok(());
        }
        let table = self.table.read().map_err(poisoned)?;
        let live = MAGIC.len() as u64 + table.live_bytes();
        let tmp = self.path.with_extension("compacting");
        let mut buf = Vec::with_capacity(live as usize);
        buf.extend_from_slice(MAGIC);
        for (slot, map) in table.kinds.iter().enumerate() {
            for (key, e) in map {
                put_frame(&mut buf, RecordKind::ALL[slot], key, e.version, &e.record);
            }
        }
        drop(table);
        let written = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&tmp, e));
        }
        // From the rename on, the new file is the journal: if reopening it
        // fails, this writer cannot go on appending to the old one.
        let swapped = std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e)).and_then(|()| {
            sync_dir(&self.path)?;
            use std::os::unix::fs::OpenOptionsExt;
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(|e| io(&self.path, e))?;
            file.try_lock().map_err(|e| StoreError::Backend(format!("{}: {e}", self.path.display())))?;
            Ok(file)
        });
        match swapped {
            Ok(file) => {
                tracing::info!(file = %self.path.display(), before = self.len, after = buf.len(), "records journal compacted");
                self.file = file;
                self.len = buf.len() as u64;
                self.live = self.len;
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                self.stopped = true;
                tracing::error!(error = %e, "the records journal could not be swapped after compaction: it takes no more writes until keyward restarts");
                Err(e)
            }
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the records journal stopped after a write error; restart keyward".into())
}

/// The key's version and end as this group sees it.
fn current(table: &Table, pending: &Pending, slot: usize, key: &str) -> Option<(u64, UnixTime)> {
    match pending[slot].get(key) {
        Some(Some(e)) => Some((e.version, e.record.until)),
        Some(None) => None,
        None => table.kinds[slot].get(key).map(|e| (e.version, e.record.until)),
    }
}

impl Records for JournalRecords {
    fn create<'a>(&'a self, kind: RecordKind, key: &'a str, record: Record, now: UnixTime) -> StoreFuture<'a, Write> {
        Box::pin(self.write(Op::Put { kind, key: key.to_owned(), expected: None, record, now }))
    }

    fn get<'a>(&'a self, kind: RecordKind, key: &'a str, now: UnixTime) -> StoreFuture<'a, Option<Stored>> {
        let found = self.table.read().map_err(poisoned).map(|t| {
            t.kinds[slot(kind)]
                .get(key)
                .filter(|e| e.record.until > now)
                .map(|e| Stored { version: e.version.to_string(), record: e.record.clone() })
        });
        Box::pin(std::future::ready(found))
    }

    fn replace<'a>(
        &'a self,
        kind: RecordKind,
        key: &'a str,
        expected: &'a str,
        record: Record,
        now: UnixTime,
    ) -> StoreFuture<'a, Write> {
        Box::pin(async move {
            // A version this journal never handed out cannot match.
            let Ok(expected) = expected.parse::<u64>() else { return Ok(Write::Conflict) };
            self.write(Op::Put { kind, key: key.to_owned(), expected: Some(expected), record, now }).await
        })
    }

    fn replace_then_create<'a>(
        &'a self,
        kind: RecordKind,
        key: &'a str,
        expected: &'a str,
        record: Record,
        new_key: &'a str,
        new_record: Record,
        now: UnixTime,
    ) -> StoreFuture<'a, Write> {
        Box::pin(async move {
            let Ok(expected) = expected.parse::<u64>() else { return Ok(Write::Conflict) };
            let (key, new_key) = (key.to_owned(), new_key.to_owned());
            self.write(Op::Pair { kind, key, expected, record, new_key, new: new_record, now }).await
        })
    }

    fn delete<'a>(&'a self, kind: RecordKind, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(
            async move { Ok(matches!(self.write(Op::Delete { kind, key: key.to_owned() }).await?, Write::Done(_))) },
        )
    }

    fn list<'a>(
        &'a self,
        kind: RecordKind,
        index: Option<&'a str>,
        now: UnixTime,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Stored)>> {
        // A scan: listing is the admin's (consents of a user), never a
        // grant's, so no second map is kept up to date for it.
        let found = self.table.read().map_err(poisoned).map(|t| {
            let mut out: Vec<(String, Stored)> = t.kinds[slot(kind)]
                .iter()
                .filter(|(_, e)| e.record.until > now && index.is_none_or(|i| e.record.index.as_deref() == Some(i)))
                .map(|(k, e)| (k.clone(), Stored { version: e.version.to_string(), record: e.record.clone() }))
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out.truncate(limit);
            out
        });
        Box::pin(std::future::ready(found))
    }

    fn purge_records(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            match self.send(Op::Purge { now }).await? {
                Answer::Removed(n) => Ok(n),
                Answer::Write(_) => Err(StoreError::Backend("the records writer answered a different question".into())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn rec(v: &str, until: u64, index: Option<&str>) -> Record {
        Record { value: v.as_bytes().to_vec(), until: UnixTime(until), index: index.map(str::to_owned) }
    }

    fn open(path: &Path) -> JournalRecords {
        JournalRecords::open(path).unwrap()
    }

    #[tokio::test]
    async fn a_reopened_journal_has_what_was_written_with_the_same_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records");
        let (v1, v2);
        {
            let j = open(&path);
            let Write::Done(v) =
                j.create(RecordKind::Consent, "c", rec("x", 100, Some("alice")), UnixTime(1)).await.unwrap()
            else {
                panic!("create")
            };
            let Write::Done(v) =
                j.replace(RecordKind::Consent, "c", &v, rec("y", 200, Some("alice")), UnixTime(1)).await.unwrap()
            else {
                panic!("replace")
            };
            v2 = v;
            j.create(RecordKind::Code, "gone", rec("z", 100, None), UnixTime(1)).await.unwrap();
            assert!(j.delete(RecordKind::Code, "gone").await.unwrap());
            v1 = j.create(RecordKind::Refresh, "r", rec("r", 100, None), UnixTime(1)).await.unwrap();
        }
        let j = open(&path);
        let c = j.get(RecordKind::Consent, "c", UnixTime(1)).await.unwrap().unwrap();
        assert_eq!((c.version, c.record), (v2, rec("y", 200, Some("alice"))));
        assert!(j.get(RecordKind::Code, "gone", UnixTime(1)).await.unwrap().is_none(), "the delete was replayed");
        let Write::Done(v1) = v1 else { panic!("create") };
        let Write::Done(next) = j.create(RecordKind::Family, "f", rec("f", 100, None), UnixTime(1)).await.unwrap()
        else {
            panic!("create")
        };
        assert!(next.parse::<u64>().unwrap() > v1.parse::<u64>().unwrap(), "versions never go back after a reopen");
    }

    #[tokio::test]
    async fn a_torn_tail_is_dropped_and_everything_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records");
        {
            let j = open(&path);
            // Frames of ~150 bytes: every cut below ends inside the last one.
            for i in 0..3 {
                j.create(RecordKind::Refresh, &format!("k{i}"), rec(&"v".repeat(100), 100, None), UnixTime(1))
                    .await
                    .unwrap();
            }
        }
        let whole = std::fs::read(&path).unwrap();
        for cut in [1, 5, 13, 40] {
            // A crash during the last frame's write: it is cut short...
            std::fs::write(&path, &whole[..whole.len() - cut]).unwrap();
            let j = open(&path);
            assert!(j.get(RecordKind::Refresh, "k1", UnixTime(1)).await.unwrap().is_some());
            assert!(j.get(RecordKind::Refresh, "k2", UnixTime(1)).await.unwrap().is_none(), "cut {cut}");
            // ...and the next write lands after the kept frames, not after the garbage.
            j.create(RecordKind::Refresh, "k3", rec("v", 100, None), UnixTime(1)).await.unwrap();
            drop(j);
            let j = open(&path);
            assert!(j.get(RecordKind::Refresh, "k3", UnixTime(1)).await.unwrap().is_some(), "cut {cut}");
        }
        // ...or written in full with garbage (a block the crash left unwritten).
        let mut damaged = whole.clone();
        let n = damaged.len();
        damaged[n - 3] ^= 0xff;
        std::fs::write(&path, &damaged).unwrap();
        let j = open(&path);
        assert!(j.get(RecordKind::Refresh, "k2", UnixTime(1)).await.unwrap().is_none());
        assert!(j.get(RecordKind::Refresh, "k1", UnixTime(1)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_journal_is_refused_and_a_second_opener_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records");
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        assert!(
            matches!(JournalRecords::open(&path), Err(StoreError::Backend(m)) if m.contains("not a keyward records journal"))
        );
        std::fs::remove_file(&path).unwrap();
        let _first = open(&path);
        assert!(
            matches!(JournalRecords::open(&path), Err(StoreError::Backend(m)) if m.contains("another keyward process"))
        );
    }

    #[tokio::test]
    async fn a_mostly_dead_journal_is_compacted_to_its_live_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records");
        let j = open(&path);
        let big = "x".repeat(64 << 10);
        let mut version = match j.create(RecordKind::Refresh, "k", rec(&big, 100, None), UnixTime(1)).await.unwrap() {
            Write::Done(v) => v,
            Write::Conflict => panic!("create"),
        };
        // 140 replacements of one 64 KiB record: compacted once past 8 MiB
        // (128 frames), then 12 more frames on top of the one live record.
        for _ in 0..140 {
            version =
                match j.replace(RecordKind::Refresh, "k", &version, rec(&big, 100, None), UnixTime(1)).await.unwrap() {
                    Write::Done(v) => v,
                    Write::Conflict => panic!("replace"),
                };
        }
        j.create(RecordKind::Consent, "c", rec("c", 100, Some("alice")), UnixTime(1)).await.unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len < 1 << 20, "compacted to {len} bytes");
        assert!(!path.with_extension("compacting").exists());
        drop(j);
        let j = open(&path);
        assert_eq!(j.get(RecordKind::Refresh, "k", UnixTime(1)).await.unwrap().unwrap().version, version);
        assert_eq!(j.list(RecordKind::Consent, Some("alice"), UnixTime(1), 10).await.unwrap().len(), 1);
        // Appends after a compaction go to the new file.
        j.create(RecordKind::Code, "after", rec("a", 100, None), UnixTime(1)).await.unwrap();
        drop(j);
        assert!(open(&path).get(RecordKind::Code, "after", UnixTime(1)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn purged_records_are_gone_and_stay_gone_only_until_they_are_created_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records");
        let j = open(&path);
        j.create(RecordKind::Code, "old", rec("o", 10, None), UnixTime(1)).await.unwrap();
        j.create(RecordKind::Code, "new", rec("n", 100, None), UnixTime(1)).await.unwrap();
        assert_eq!(j.purge_records(UnixTime(50)).await.unwrap(), 1);
        assert!(
            j.get(RecordKind::Code, "old", UnixTime(5)).await.unwrap().is_none(),
            "purged, even read at an earlier time"
        );
        assert!(matches!(
            j.create(RecordKind::Code, "old", rec("o2", 100, None), UnixTime(50)).await.unwrap(),
            Write::Done(_)
        ));
    }
}
