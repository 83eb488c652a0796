//! The parallel middle: the calling thread parses chunks of records and hands them to worker
//! threads that validate them and build Arrow columns; finished chunks come back in any order
//! and are sequenced in file order, where the duplicate check, the rejected rows and the
//! report are done, before the batch goes to the Parquet thread.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Mutex;

use arrow::array::BooleanArray;
use arrow::record_batch::RecordBatch;

use super::batch::BatchBuilder;
use super::dedup::{DupRows, FingerprintSet, Spill};
use super::error::{IngestError, Result};
use super::report::{IngestReport, RejectedWriter, RowError, MAX_REPORTED_ERRORS};
use super::row::{trim, Key, RowValidator};
use super::source::{Chunk, Source};

/// A chunk sent to the workers, with its sequence number.
pub type Job = (u64, Chunk);
/// A chunk back from a worker, or why the worker gave up.
pub type Done = std::result::Result<(u64, Chunk), String>;

/// What every record must look like before its values are validated.
pub struct RecordShape {
    /// Fields of the header.
    pub n_fields: usize,
    /// Bytes one field may have at most.
    pub max_field_bytes: usize,
    /// Header names as written (trimmed), for errors about a field.
    pub names: std::sync::Arc<Vec<String>>,
}

/// A worker: validates chunks from `jobs` until the channel closes.
pub fn work(
    jobs: &Mutex<Receiver<Job>>,
    done: Sender<Done>,
    mut validator: RowValidator,
    mut batch: BatchBuilder,
    shape: RecordShape,
    n_unique: usize,
) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((seq, mut chunk)) = job else { return };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            validate_chunk(&mut chunk, &mut validator, &mut batch, &shape, n_unique)
        }));
        let msg = match outcome {
            Ok(Ok(())) => Ok((seq, chunk)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("a validating thread stopped unexpectedly".to_string()),
        };
        if done.send(msg).is_err() {
            return;
        }
    }
}

fn validate_chunk(
    chunk: &mut Chunk,
    validator: &mut RowValidator,
    batch: &mut BatchBuilder,
    shape: &RecordShape,
    n_unique: usize,
) -> Result<()> {
    let n_fields = shape.n_fields;
    chunk.states.clear();
    chunk.errors.clear();
    chunk.keys.clear();
    chunk.keys.resize(chunk.len * n_unique, Key::default());
    for i in 0..chunk.len {
        let rec = &chunk.records[i];
        let line = chunk.lines[i];
        let keys = &mut chunk.keys[i * n_unique..(i + 1) * n_unique];
        let ok = if rec.len() != n_fields {
            // Only a quote keeps a line break inside a field; at the end of the file, one that
            // is never closed swallows the rest into this record.
            let spans_lines = rec.iter().any(|f| f.contains(&b'\n') || f.contains(&b'\r'));
            let hint = if spans_lines {
                format!(
                    " (a quoted field opened on line {line} runs over several lines: is its closing quote missing?)"
                )
            } else {
                String::new()
            };
            chunk.errors.push(RowError {
                line,
                column: None,
                value: None,
                reason: format!("expected {} fields, found {}{hint}", n_fields, rec.len()),
            });
            false
        } else if let Some(at) = rec.iter().position(|f| f.len() > shape.max_field_bytes) {
            let field = &rec[at];
            let shown: String = String::from_utf8_lossy(&field[..field.len().min(40)]).chars().take(40).collect();
            chunk.errors.push(RowError {
                line,
                column: shape.names.get(at).cloned(),
                value: Some(format!("{shown}…")),
                reason: format!(
                    "the value is {} bytes long, more than the limit of {} bytes per value",
                    field.len(),
                    shape.max_field_bytes
                ),
            });
            false
        } else {
            validator.validate(rec, line, &mut chunk.errors, keys)
        };
        if ok && chunk.build {
            batch.append(rec, &validator.values);
        }
        chunk.states.push((ok, chunk.errors.len() as u32));
    }
    chunk.batch = if chunk.build { Some(batch.finish()?) } else { None };
    Ok(())
}

/// Where the duplicate check stands.
enum Phase {
    /// Every accepted key is in the sets.
    Memory,
    /// The budget was reached at `freeze_row`: keys of later rows go to spill files and nothing
    /// is written until the second pass.
    Spilling { spill: Spill },
    /// Second pass: later rows are duplicates when in the frozen sets or marked.
    Resolved { dups: DupRows },
}

/// The in-order end of the pipeline: duplicate check, rejected rows, report, Parquet batches.
pub struct Sequencer<'a, J: Write> {
    /// Counts and first errors.
    pub report: IngestReport,
    /// The rejected-rows CSV.
    pub rejected: RejectedWriter<J>,
    tx: Option<SyncSender<RecordBatch>>,
    /// Per unique column: name and CSV field.
    uniques: Vec<(String, Option<usize>)>,
    sets: Vec<FingerprintSet>,
    phase: Phase,
    /// Accepted keys kept in memory before spilling (`None`: no limit).
    budget: Option<usize>,
    scratch_dir: &'a Option<PathBuf>,
    freeze_row: u64,
    pending: Vec<u128>,
    row_errors: Vec<RowError>,
    keep: Vec<bool>,
}

impl<'a, J: Write> Sequencer<'a, J> {
    /// A sequencer sending batches to `tx`; with a `budget`, spills keys past it (only
    /// possible with one unique column and an input that can be read again).
    pub fn new(
        report: IngestReport,
        rejected: RejectedWriter<J>,
        tx: SyncSender<RecordBatch>,
        uniques: Vec<(String, Option<usize>)>,
        budget: Option<usize>,
        scratch_dir: &'a Option<PathBuf>,
    ) -> Self {
        let budget = budget.filter(|_| uniques.len() == 1);
        Sequencer {
            report,
            rejected,
            tx: Some(tx),
            sets: vec![FingerprintSet::default(); uniques.len()],
            uniques,
            phase: Phase::Memory,
            budget,
            scratch_dir,
            freeze_row: 0,
            pending: Vec::new(),
            row_errors: Vec::new(),
            keep: Vec::new(),
        }
    }

    /// Whether workers should build Arrow columns (not while only spilling keys).
    pub fn building(&self) -> bool {
        !matches!(self.phase, Phase::Spilling { .. })
    }

    /// Closes the channel to the Parquet thread.
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// After the first pass: `None` when everything is written, or the row from which a
    /// second pass must write (the spilled keys are resolved now).
    pub fn end_first_pass(&mut self, rows: u64) -> Result<Option<u64>> {
        match std::mem::replace(&mut self.phase, Phase::Memory) {
            Phase::Spilling { spill } => {
                self.phase = Phase::Resolved { dups: spill.resolve(rows)? };
                Ok(Some(self.freeze_row))
            }
            other => {
                self.phase = other;
                Ok(None)
            }
        }
    }

    /// Takes the next chunk in file order.
    pub fn process(&mut self, chunk: &mut Chunk) -> Result<()> {
        if let Phase::Spilling { spill } = &mut self.phase {
            let set = &self.sets[0];
            for i in 0..chunk.len {
                let k = chunk.keys[i];
                if k.present && !set.contains(k.fp) {
                    spill.push(k.fp, chunk.first_row + i as u64, chunk.states[i].0)?;
                }
            }
            return Ok(());
        }
        let n_unique = self.uniques.len();
        let mut start = 0usize;
        let mut built = 0usize;
        let mut dropped = false;
        self.keep.clear();
        const AHEAD: usize = 8;
        for i in 0..chunk.len {
            if n_unique > 0 {
                if let Some(keys) = chunk.keys.get((i + AHEAD) * n_unique..(i + AHEAD + 1) * n_unique) {
                    for (set, k) in self.sets.iter().zip(keys) {
                        set.prefetch(k.fp);
                    }
                }
            }
            let (ok, end) = chunk.states[i];
            let end = end as usize;
            let keys = &chunk.keys[i * n_unique..(i + 1) * n_unique];
            let row = chunk.first_row + i as u64;
            // Duplicates: against accepted rows (and, as before, earlier unique columns of the row).
            let mut dup_mask = 0u64;
            self.pending.clear();
            for (j, k) in keys.iter().enumerate() {
                if !k.present {
                    continue;
                }
                let dup = self.sets[j].contains(k.fp)
                    || self.pending.contains(&k.fp)
                    || matches!(&self.phase, Phase::Resolved { dups } if dups.get(row));
                if dup {
                    dup_mask |= 1 << j.min(63);
                } else {
                    self.pending.push(k.fp);
                }
            }
            self.report.rows_total += 1;
            if ok && chunk.build {
                self.keep.push(dup_mask == 0);
                built += 1;
            }
            if ok && dup_mask == 0 {
                if matches!(self.phase, Phase::Memory) {
                    for (j, k) in keys.iter().enumerate() {
                        if k.present {
                            self.sets[j].insert(k.fp);
                        }
                    }
                }
                self.report.rows_accepted += 1;
                start = end;
                continue;
            }
            dropped |= ok;
            let errs = &chunk.errors[start..end];
            start = end;
            let rec = &chunk.records[i];
            let line = chunk.lines[i];
            let errors: &[RowError] = if dup_mask == 0 {
                errs
            } else {
                self.row_errors.clear();
                let mut from = 0;
                for (j, k) in keys.iter().enumerate() {
                    if dup_mask & (1 << j.min(63)) == 0 {
                        continue;
                    }
                    let at = (k.at as usize).min(errs.len());
                    self.row_errors.extend_from_slice(&errs[from.min(at)..at]);
                    from = at;
                    let (name, field) = &self.uniques[j];
                    let raw = field.and_then(|f| rec.get(f)).map(trim).unwrap_or(b"");
                    self.row_errors.push(RowError {
                        line,
                        column: Some(name.clone()),
                        value: Some(String::from_utf8_lossy(raw).into_owned()),
                        reason: format!("{name} repeats the {name} of an earlier row of this file"),
                    });
                }
                self.row_errors.extend_from_slice(&errs[from..]);
                &self.row_errors
            };
            self.report.rows_rejected += 1;
            self.rejected.write(rec, line, errors)?;
            let room = MAX_REPORTED_ERRORS.saturating_sub(self.report.errors.len());
            self.report.errors.extend(errors.iter().take(room).cloned());
        }
        debug_assert_eq!(built, self.keep.len());
        if let Some(mut batch) = chunk.batch.take() {
            if dropped {
                batch =
                    arrow::compute::filter_record_batch(&batch, &BooleanArray::from(std::mem::take(&mut self.keep)))?;
            }
            if batch.num_rows() > 0 {
                let tx = self.tx.as_ref().expect("open until the end");
                tx.send(batch).map_err(|_| std::io::Error::other("the Parquet writer stopped"))?;
            }
        }
        if let (Phase::Memory, Some(budget)) = (&self.phase, self.budget) {
            if self.sets[0].len() > budget {
                let dir = self.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
                self.freeze_row = chunk.first_row + chunk.len as u64;
                self.phase = Phase::Spilling { spill: Spill::new(&dir, self.freeze_row)? };
            }
        }
        Ok(())
    }
}

/// Moves chunks from the source to the workers and back to the sequencer in order, with at
/// most `pool` chunks in flight (memory stays bounded).
pub struct Pump {
    /// Records per chunk.
    pub chunk_rows: usize,
    /// Chunks allocated at most.
    pub pool: usize,
    /// Work for the workers (`None` once closed).
    pub jobs: Option<Sender<Job>>,
    /// Finished chunks.
    pub done: Receiver<Done>,
    free: Vec<Chunk>,
    allocated: usize,
    next_seq: u64,
    next_out: u64,
    waiting: BTreeMap<u64, Chunk>,
}

impl Pump {
    /// A pump over the given channels.
    pub fn new(chunk_rows: usize, pool: usize, jobs: Sender<Job>, done: Receiver<Done>) -> Self {
        Pump {
            chunk_rows,
            pool,
            jobs: Some(jobs),
            done,
            free: Vec::new(),
            allocated: 0,
            next_seq: 0,
            next_out: 0,
            waiting: BTreeMap::new(),
        }
    }

    /// Reads `src` to the end (writing from row `skip_to` on) through workers and `seq`.
    pub fn run<J: Write>(&mut self, src: &mut Source<'_>, skip_to: u64, seq: &mut Sequencer<'_, J>) -> Result<()> {
        loop {
            let mut chunk = match self.free.pop() {
                Some(c) => c,
                None if self.allocated < self.pool => {
                    self.allocated += 1;
                    Chunk::new()
                }
                None => {
                    self.wait_one(seq)?;
                    continue;
                }
            };
            let eof = src.fill(&mut chunk, self.chunk_rows, skip_to)?;
            if chunk.len > 0 {
                chunk.build = seq.building();
                let jobs = self.jobs.as_ref().expect("open while running");
                jobs.send((self.next_seq, chunk)).map_err(|_| stopped())?;
                self.next_seq += 1;
            } else {
                self.free.push(chunk);
            }
            // Sequence whatever is ready without blocking.
            while let Ok(done) = self.done.try_recv() {
                self.accept(done, seq)?;
            }
            if eof {
                break;
            }
        }
        while self.next_out < self.next_seq {
            self.wait_one(seq)?;
        }
        Ok(())
    }

    fn wait_one<J: Write>(&mut self, seq: &mut Sequencer<'_, J>) -> Result<()> {
        let done = self.done.recv().map_err(|_| stopped())?;
        self.accept(done, seq)
    }

    fn accept<J: Write>(&mut self, done: Done, seq: &mut Sequencer<'_, J>) -> Result<()> {
        let (n, chunk) = done.map_err(std::io::Error::other)?;
        self.waiting.insert(n, chunk);
        while let Some(mut chunk) = self.waiting.remove(&self.next_out) {
            seq.process(&mut chunk)?;
            self.next_out += 1;
            self.free.push(chunk);
        }
        Ok(())
    }
}

fn stopped() -> IngestError {
    std::io::Error::other("the validating threads stopped unexpectedly").into()
}
